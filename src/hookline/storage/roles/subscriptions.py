"""Subscriptions: their settings, secrets and routing candidates."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

from hookline.core.models import (
    Subscription,
)
from hookline.storage.records import HeldAction, SubscriptionFilter, SubscriptionSecrets


class Subscriptions(abc.ABC):
    """Subscriptions: their settings, secrets and routing candidates."""

    # subscriptions ---------------------------------------------------------------------------
    @abc.abstractmethod
    async def insert_subscription(
        self, sub: Subscription, secrets: SubscriptionSecrets
    ) -> None: ...

    @abc.abstractmethod
    async def get_subscription(self, org_id: str, sub_id: str) -> Subscription | None: ...

    @abc.abstractmethod
    async def subscription_secrets(
        self, org_id: str, sub_id: str
    ) -> SubscriptionSecrets | None: ...

    @abc.abstractmethod
    async def list_subscriptions(
        self, org_id: str, flt: SubscriptionFilter, limit: int, offset: int
    ) -> list[Subscription]: ...

    @abc.abstractmethod
    async def update_subscription(
        self,
        org_id: str,
        sub_id: str,
        changes: Mapping[str, Any],
        now_ms: int,
        secrets: SubscriptionSecrets | None = None,
        *,
        held: HeldAction | None = None,
    ) -> Subscription | None:
        """Apply ``changes`` (domain field names). Disabling makes undelivered deliveries
        ``held`` (kept, unsent); ``held`` sends or drops the held deliveries, in the same
        transaction."""

    @abc.abstractmethod
    async def delete_subscription(self, org_id: str, sub_id: str, now_ms: int) -> bool:
        """Remove it and cancel its undelivered and held deliveries, at once."""

    @abc.abstractmethod
    async def routing_candidates(
        self,
        org_id: str,
        *,
        mailbox_id: str | None,
        phone_number_id: str | None,
        identity_id: str | None,
    ) -> list[Subscription]:
        """Subscriptions (disabled ones too: theirs are held) whose owner could match such an
        event (core decides)."""
