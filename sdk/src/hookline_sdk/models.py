"""Typed results: frozen dataclasses read from the server's JSON.

Fields the server adds later are kept in ``raw`` (the whole JSON object), so a newer server
never breaks an older SDK. Timestamps are the server's ISO 8601 strings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from hookline_sdk.errors import UnexpectedResponseError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")
D = TypeVar("D", bound="DataclassInstance")


def _raw() -> Any:
    """The ``raw`` field: the whole JSON object, left out of ``repr`` and equality."""
    return field(default_factory=dict, repr=False, compare=False)


def build(cls: type[D], data: Any, **nested: Any) -> D:
    """``cls`` from one JSON object: known fields only, lists made tuples, ``raw`` kept."""
    if not isinstance(data, Mapping):
        raise UnexpectedResponseError(f"expected a JSON object for {cls.__name__}, got {data!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names
    }
    kwargs.update(nested)
    if "raw" in names:
        kwargs["raw"] = data
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise UnexpectedResponseError(f"{cls.__name__}: {exc}") from None


def build_list(cls: type[D], data: Any, key: str) -> tuple[D, ...]:
    items = _items(data, key)
    return tuple(build(cls, item) for item in items)


def _items(data: Any, key: str) -> list[Any]:
    items = data.get(key) if isinstance(data, Mapping) else None
    if not isinstance(items, list):
        raise UnexpectedResponseError(f"expected a list under {key!r}")
    return items


@dataclass(frozen=True, kw_only=True)
class Page(Generic[T]):
    """One page of a list. ``has_more``/``next_cursor`` are ``None`` when the server does
    not send them (it pages by ``limit``/``offset`` only)."""

    items: tuple[T, ...]
    has_more: bool | None = None
    next_cursor: str | None = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def page_of(data: Any, key: str, item: Callable[[Any], T]) -> Page[T]:
    items = tuple(item(x) for x in _items(data, key))
    has_more = data.get("has_more")
    cursor = data.get("next_cursor")
    return Page(
        items=items,
        has_more=has_more if isinstance(has_more, bool) else None,
        next_cursor=cursor if isinstance(cursor, str) and cursor else None,
    )


@dataclass(frozen=True, kw_only=True)
class Subscription:
    id: str
    organization_id: str
    #: None for a pull subscription
    url: str | None
    event_types: tuple[str, ...]
    profile: str
    enabled: bool
    created_at: str
    updated_at: str
    status: str = "active"
    mailbox_id: str | None = None
    phone_number_id: str | None = None
    agent_identity_id: str | None = None
    owner_identity_id: str | None = None
    has_auth_token: bool = False
    auth_token: str | None = None
    name: str | None = None
    description: str | None = None
    disabled_reason: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    filters: Mapping[str, Any] = field(default_factory=dict)
    retry_schedule: tuple[int, ...] | None = None
    max_in_flight: int | None = None
    rate_limit_per_second: float | None = None
    source: str | None = None
    #: "push" (POSTed to url) or "pull" (taken with ``pull_deliveries``)
    mode: str = "push"
    raw: Mapping[str, Any] = _raw()


@dataclass(frozen=True, kw_only=True)
class Pulled:
    """A delivery leased by ``pull_deliveries``: the request its profile would POST, signed.
    Pass it (or its ``delivery_id`` and ``lease``) to ``ack_deliveries`` or
    ``release_deliveries``."""

    delivery_id: str
    lease: str
    attempt: int
    event_id: str
    event_type: str
    headers: Mapping[str, str]
    body: str
    raw: Mapping[str, Any] = _raw()


@dataclass(frozen=True, kw_only=True)
class AckResult:
    """Whether one acknowledgement was recorded (``status`` 409: its lease was stale)."""

    delivery_id: str
    recorded: bool
    status: int
    raw: Mapping[str, Any] = _raw()


@dataclass(frozen=True, kw_only=True)
class CreatedSubscription(Subscription):
    """A new subscription, with the keys shown only now: ``secret`` (standard, inbox,
    inboxroad) and ``signing_key`` (inkbox, when this create minted the owner's key)."""

    secret: str | None = None
    signing_key: str | None = None


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """One logged HTTP request of a delivery (an entry of the delivery log)."""

    id: str
    organization_id: str
    event_id: str
    event_type: str
    url: str
    created_at: str
    success: bool
    is_replay: bool = False
    replayable: bool = False
    replay_unavailable_reason: str | None = None
    webhook_subscription_id: str | None = None
    delivery_id: str | None = None
    phone_number_id: str | None = None
    request_payload: Any = None
    response_status: int | None = None
    response_body: str | None = None
    error_detail: str | None = None
    duration_ms: int | None = None
    mailbox_id: str | None = None
    agent_identity_id: str | None = None
    #: the headers sent (the bearer token and custom values masked) and received (capped)
    request_headers: Mapping[str, str] | None = None
    response_headers: Mapping[str, str] | None = None
    raw: Mapping[str, Any] = _raw()


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """One event for one subscription, and where it stands."""

    id: str
    event_id: str
    webhook_subscription_id: str
    #: pending, delivering, held (its subscription is disabled), succeeded, failed, cancelled
    state: str
    attempts: int
    created_at: str
    updated_at: str
    next_attempt_at: str | None = None
    last_attempt_at: str | None = None
    last_status: int | None = None
    last_error: str | None = None
    raw: Mapping[str, Any] = _raw()


@dataclass(frozen=True, kw_only=True)
class Event:
    id: str
    type: str
    timestamp: str
    created_at: str
    data: Mapping[str, Any] = field(default_factory=dict)
    mailbox_id: str | None = None
    phone_number_id: str | None = None
    agent_identity_id: str | None = None
    domain: str | None = None
    raw: Mapping[str, Any] = _raw()


@dataclass(frozen=True, kw_only=True)
class EventDeliveries:
    event: Event
    deliveries: tuple[Delivery, ...]
    attempts: tuple[Attempt, ...]
    raw: Mapping[str, Any] = _raw()


def event_deliveries(data: Any) -> EventDeliveries:
    event = data.get("event") if isinstance(data, Mapping) else None
    return build(
        EventDeliveries,
        data,
        event=build(Event, event),
        deliveries=build_list(Delivery, data, "deliveries"),
        attempts=build_list(Attempt, data, "attempts"),
    )


@dataclass(frozen=True, kw_only=True)
class Published:
    """The answer to publishing one event."""

    id: str
    type: str
    timestamp: str
    deliveries: int
    #: true when the id was already known: nothing new was created
    duplicate: bool = False
    raw: Mapping[str, Any] = _raw()


@dataclass(frozen=True, kw_only=True)
class Identity:
    id: str
    agent_handle: str
    organization_id: str
    created_at: str
    raw: Mapping[str, Any] = _raw()


@dataclass(frozen=True, kw_only=True)
class Mailbox:
    id: str
    email_address: str
    created_at: str
    agent_identity_id: str | None = None
    webhook_url: str | None = None
    #: set once, by the update that minted the owner's signing key
    signing_key: str | None = None
    raw: Mapping[str, Any] = _raw()


@dataclass(frozen=True, kw_only=True)
class PhoneNumber:
    id: str
    number: str
    created_at: str
    incoming_call_action: str
    agent_identity_id: str | None = None
    incoming_call_webhook_url: str | None = None
    raw: Mapping[str, Any] = _raw()


@dataclass(frozen=True, kw_only=True)
class ApiKey:
    """A listed API key: its prefix only."""

    id: str
    prefix: str
    scope: str
    created_at: str
    agent_identity_id: str | None = None
    name: str | None = None
    revoked_at: str | None = None
    raw: Mapping[str, Any] = _raw()


@dataclass(frozen=True, kw_only=True)
class CreatedApiKey:
    """A new API key; ``key`` is shown only this once."""

    id: str
    key: str
    scope: str
    created_at: str
    agent_identity_id: str | None = None
    raw: Mapping[str, Any] = _raw()


@dataclass(frozen=True, kw_only=True)
class SigningKey:
    """A new signing key; shown only this once."""

    signing_key: str
    created_at: str
    raw: Mapping[str, Any] = _raw()


@dataclass(frozen=True, kw_only=True)
class PortalLink:
    """A one-time URL into the console for one owner; it opens once, before ``expires_at``."""

    url: str
    expires_at: str
    raw: Mapping[str, Any] = _raw()


@dataclass(frozen=True, kw_only=True)
class SigningKeyStatus:
    configured: bool
    created_at: str | None = None
    raw: Mapping[str, Any] = _raw()


@dataclass(frozen=True, kw_only=True)
class EventType:
    """A catalog entry."""

    type: str
    channel: str
    description: str
    subscribable: bool = True
    example: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = _raw()


@dataclass(frozen=True, kw_only=True)
class Task:
    """A background task (a bulk replay): where it stands, and what it did once finished."""

    id: str
    organization_id: str
    kind: str
    subscription_id: str
    #: queued, running, succeeded or failed
    state: str
    #: since, until, status, event_types (None: every type the subscription takes)
    params: Mapping[str, Any] = field(default_factory=dict)
    #: total (matched when made), requeued and skipped so far
    progress: Mapping[str, int] = field(default_factory=dict)
    #: requeued and skipped, once succeeded
    result: Mapping[str, int] | None = None
    error: str | None = None
    created_at: str = ""
    updated_at: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    raw: Mapping[str, Any] = _raw()

    @property
    def finished(self) -> bool:
        return self.state not in ("queued", "running")
