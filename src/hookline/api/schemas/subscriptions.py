"""Subscription schemas: create, update, read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from hookline.api.schemas.common import In, Out
from hookline.core.errors import ValidationFailed
from hookline.core.models import Subscription
from hookline.core.timefmt import iso_from_ms
from hookline.core.validation import masked_headers


class Filters(In):
    domains: list[str] = Field(default_factory=list, max_length=100)


class SubscriptionCreate(In):
    url: str = Field(max_length=2048)
    event_types: list[str] = Field(max_length=100)
    mailbox_id: str | None = None
    phone_number_id: str | None = None
    agent_identity_id: str | None = None
    auth_token: str | None = None
    name: str | None = None
    description: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    filters: Filters | None = None
    profile: str | None = None
    enabled: bool = True
    retry_schedule: list[int] | None = None
    max_in_flight: int | None = None
    rate_limit_per_second: float | None = None


class SubscriptionUpdate(In):
    """Every field optional; only those sent change. Owner fields are refused (immutable)."""

    url: str | None = Field(None, max_length=2048)
    event_types: list[str] | None = Field(None, max_length=100)
    mailbox_id: str | None = None
    phone_number_id: str | None = None
    agent_identity_id: str | None = None
    auth_token: str | None = None
    name: str | None = None
    description: str | None = None
    headers: dict[str, str] | None = None
    filters: Filters | None = None
    profile: str | None = None
    enabled: bool | None = None
    retry_schedule: list[int] | None = None
    max_in_flight: int | None = None
    rate_limit_per_second: float | None = None

    def changes(self) -> dict[str, Any]:
        """The fields the client sent, in the services' vocabulary."""
        sent = self.model_dump(exclude_unset=True)
        if "filters" in sent:
            filters = sent.pop("filters")
            sent["domains"] = (filters or {}).get("domains", [])
        for required in ("url", "event_types", "enabled", "profile"):
            if required in sent and sent[required] is None:
                raise ValidationFailed(required, "must not be null")
        if "headers" in sent and sent["headers"] is None:
            sent["headers"] = {}
        return sent


class SubscriptionOut(Out):
    id: str
    organization_id: str
    mailbox_id: str | None
    phone_number_id: str | None
    agent_identity_id: str | None
    owner_identity_id: str | None
    url: str
    event_types: list[str]
    status: str
    created_at: str
    updated_at: str
    has_auth_token: bool
    auth_token: str | None
    name: str | None
    description: str | None
    enabled: bool
    disabled_reason: str | None
    profile: str
    headers: dict[str, str]
    filters: Filters
    retry_schedule: list[int] | None
    max_in_flight: int | None
    rate_limit_per_second: float | None
    #: who manages it: "api", "mailbox" (a mailbox's webhook_url) or "inbox" (/v1/webhooks)
    source: str

    @classmethod
    def of(cls, sub: Subscription) -> SubscriptionOut:
        return cls(
            id=sub.id,
            organization_id=sub.organization_id,
            mailbox_id=sub.mailbox_id,
            phone_number_id=sub.phone_number_id,
            agent_identity_id=sub.agent_identity_id,
            owner_identity_id=sub.owner_identity_id,
            url=sub.url,
            event_types=list(sub.event_types),
            status="active" if sub.enabled else "disabled",
            created_at=iso_from_ms(sub.created_at_ms),
            updated_at=iso_from_ms(sub.updated_at_ms),
            has_auth_token=sub.has_auth_token,
            # the token is write-only: it is never read back
            auth_token=None,
            name=sub.name,
            description=sub.description,
            enabled=sub.enabled,
            disabled_reason=sub.disabled_reason,
            profile=sub.profile,
            # values are secrets: names only, each value masked (sent back, a mask keeps it)
            headers=masked_headers(sub.headers),
            filters=Filters(domains=list(sub.domains)),
            retry_schedule=list(sub.retry_schedule) if sub.retry_schedule is not None else None,
            max_in_flight=sub.max_in_flight,
            rate_limit_per_second=sub.rate_limit_per_second,
            source=sub.source,
        )


class SubscriptionCreated(SubscriptionOut):
    signing_key: str | None = None
    secret: str | None = None


class SubscriptionList(Out):
    subscriptions: list[SubscriptionOut]


class TestSendIn(In):
    event_type: str


class SecretOut(Out):
    secret: str


class RotateSecretIn(In):
    grace_period_s: int | None = None


class RecoverIn(In):
    since: datetime


class RecoverOut(Out):
    requeued: int
