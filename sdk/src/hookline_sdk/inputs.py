"""What the clients' methods take: the fields of new events, subscription settings, changes
and list queries, as TypedDicts (so ``**options`` are type-checked)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, Required, TypedDict


class EventOptions(TypedDict, total=False):
    id: str
    mailbox: str
    phone_number: str
    agent_handle: str
    domain: str
    occurred_at: str | datetime


class NewEvent(EventOptions, total=False):
    """One event to publish, as ``publish_events_batch`` takes them."""

    type: Required[str]
    data: Mapping[str, Any]


class _SubscriptionSettings(TypedDict, total=False):
    auth_token: str | None
    name: str | None
    description: str | None
    headers: Mapping[str, str] | None
    filters: Mapping[str, Any] | None
    profile: str | None
    enabled: bool
    retry_schedule: Sequence[int] | None
    max_in_flight: int | None
    rate_limit_per_second: float | None


class SubscriptionChanges(_SubscriptionSettings, total=False):
    """What ``update_subscription`` may change; a field given as ``None`` is cleared."""

    url: str
    event_types: Sequence[str]
    #: only with ``enabled=True``: "send" the deliveries held while it was disabled, or
    #: "drop" them (cancelled, kept in the log); without it they stay held
    held: Literal["send", "drop"]


class SubscriptionOptions(_SubscriptionSettings, total=False):
    """Everything ``create_subscription`` takes beside the URL and event types."""

    mailbox_id: str
    phone_number_id: str
    agent_identity_id: str
    #: "pull": no URL (pass None); its deliveries are taken with ``pull_deliveries``
    mode: str


class PhoneNumberChanges(TypedDict, total=False):
    incoming_call_action: str
    incoming_call_webhook_url: str | None


class Paging(TypedDict, total=False):
    limit: int
    offset: int
    cursor: str


class SubscriptionFilters(TypedDict, total=False):
    mailbox_id: str
    phone_number_id: str
    agent_identity_id: str
    url: str
    event_type: str


class SubscriptionQuery(SubscriptionFilters, Paging, total=False):
    pass


class DeliveryFilters(TypedDict, total=False):
    subscription_id: str
    phone_number_id: str
    mailbox_id: str
    agent_identity_id: str
    event_type: str
    event_id: str
    status_code: int
    success: bool
    #: made at or after (a datetime with a zone, or ISO 8601 text)
    since: datetime | str
    #: made before
    until: datetime | str


class DeliveryQuery(DeliveryFilters, Paging, total=False):
    pass
