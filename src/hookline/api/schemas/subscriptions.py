"""Subscription schemas: create, update, read."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from hookline.api.schemas.common import (
    EventType,
    EventTypeList,
    In,
    Int,
    IsoDateTime,
    Out,
    ProfileName,
    enum,
)
from hookline.core.errors import ValidationFailed
from hookline.core.models import Subscription
from hookline.core.profiles import PROFILES
from hookline.core.timefmt import iso_from_ms
from hookline.core.validation import masked_headers
from hookline.services.signing import MAX_GRACE_S


class Filters(In):
    """Which events of the subscribed types it takes."""

    domains: list[str] = Field(default_factory=list, max_length=100)
    """Sending domains (at most 100): when any are given, only events whose `domain` is one of
    them are delivered."""


class SubscriptionCreate(In):
    """A new subscription."""

    url: str | None = Field(None, max_length=2048, examples=["https://example.com/hooks"])
    """Where deliveries are POSTed: an https:// URL (http:// only when the server allows it).
    Required in `push` mode; a `pull` subscription has none."""
    mode: Literal["push", "pull"] = "push"
    """`push` (the default): deliveries are POSTed to `url`. `pull`: no URL; a consumer takes
    them with `POST .../{id}/pull` and acknowledges them with `POST .../{id}/ack`."""
    event_types: EventTypeList
    """The catalog's event types it wants (1-100, no repeats)."""
    mailbox_id: str | None = None
    """The mailbox that owns it (at most one owner)."""
    phone_number_id: str | None = None
    """The phone number that owns it (at most one owner)."""
    agent_identity_id: str | None = None
    """The identity that owns it (at most one owner). No owner: organization-wide."""
    auth_token: str | None = None
    """Sent as `Authorization: Bearer <auth_token>` with every delivery. Write-only."""
    name: str | None = None
    """A label."""
    description: str | None = None
    """A longer description."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra headers sent with every delivery (Hookline's own headers cannot be overridden)."""
    filters: Filters | None = None
    """Narrows which events it takes."""
    profile: ProfileName | None = None
    """How deliveries look on the wire: `standard` (Standard Webhooks), `inkbox`, `inbox` or
    `inboxroad`. Defaults to the server's default profile."""
    enabled: bool = True
    """Whether it delivers. A disabled subscription's matching events are not delivered."""
    retry_schedule: list[Int] | None = None
    """Seconds after the first try at which each attempt is made; defaults to the server's
    schedule."""
    max_in_flight: Int | None = None
    """At most this many of its deliveries are sent at once."""
    rate_limit_per_second: float | None = None
    """At most this many of its deliveries are started per second."""


class SubscriptionUpdate(In):
    """Every field optional; only those sent change. Owner fields are refused (immutable)."""

    url: str | None = Field(None, max_length=2048)
    """Where deliveries are POSTed."""
    event_types: EventTypeList | None = None
    """The event types it wants."""
    mailbox_id: str | None = None
    """Refused: the owner cannot change."""
    phone_number_id: str | None = None
    """Refused: the owner cannot change."""
    agent_identity_id: str | None = None
    """Refused: the owner cannot change."""
    auth_token: str | None = None
    """The bearer token sent with deliveries; null removes it."""
    name: str | None = None
    """A label."""
    description: str | None = None
    """A longer description."""
    headers: dict[str, str] | None = None
    """Extra headers sent with every delivery; null removes them all."""
    filters: Filters | None = None
    """Narrows which events it takes."""
    profile: ProfileName | None = None
    """How deliveries look on the wire."""
    enabled: bool | None = None
    """Whether it delivers. While disabled, the events it matches are kept as `held`
    deliveries."""
    held: Literal["send", "drop"] | None = None
    """Only with `enabled: true`: `send` the held deliveries now, or `drop` them (cancelled,
    kept in the log). Without it they stay held."""
    retry_schedule: list[Int] | None = None
    """Seconds after the first try at which each attempt is made; null for the server's."""
    max_in_flight: Int | None = None
    """At most this many of its deliveries at once; null for no own bound."""
    rate_limit_per_second: float | None = None
    """At most this many deliveries started per second; null for none."""

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
    """A subscription."""

    id: str
    """Its id."""
    organization_id: str
    """The organization."""
    mailbox_id: str | None
    """The mailbox that owns it, if any."""
    phone_number_id: str | None
    """The phone number that owns it, if any."""
    agent_identity_id: str | None
    """The identity that owns it directly, if any."""
    owner_identity_id: str | None
    """The identity behind its owner (directly, or through the mailbox or number), if any."""
    url: str | None
    """Where deliveries are POSTed (null for a `pull` subscription)."""
    mode: str = Field(json_schema_extra=enum("push", "pull"))
    """`push`: deliveries are POSTed to `url`; `pull`: a consumer pulls them."""
    event_types: list[str]
    """The event types it wants."""
    status: str = Field(json_schema_extra=enum("active", "disabled"))
    """`active` or `disabled`."""
    created_at: str
    """When it was created (ISO 8601)."""
    updated_at: str
    """When it last changed (ISO 8601)."""
    has_auth_token: bool
    """Whether deliveries carry an `Authorization: Bearer` token."""
    auth_token: str | None
    """Always null: the token is write-only."""
    name: str | None
    """Its label."""
    description: str | None
    """Its description."""
    enabled: bool
    """Whether it delivers."""
    disabled_reason: str | None
    """Why it was disabled (by request, `410 Gone`, or failing too long), if it is."""
    profile: str = Field(json_schema_extra=enum(*PROFILES))
    """How its deliveries look on the wire."""
    headers: dict[str, str]
    """Extra headers sent with every delivery."""
    filters: Filters
    """Narrows which events it takes."""
    retry_schedule: list[int] | None
    """Its own retry schedule in seconds, or null for the server's."""
    max_in_flight: int | None
    """Its own bound on deliveries at once, if any."""
    rate_limit_per_second: float | None
    """Its own bound on deliveries started per second, if any."""
    #: who manages it: "api", "mailbox" (a mailbox's webhook_url) or "inbox" (/v1/webhooks)
    source: str = Field(json_schema_extra=enum("api", "mailbox", "inbox"))
    """Who manages it: `api`, `mailbox` (a mailbox's `webhook_url`) or `inbox`
    (`/v1/webhooks`)."""

    @classmethod
    def of(cls, sub: Subscription) -> SubscriptionOut:
        return cls(
            id=sub.id,
            organization_id=sub.organization_id,
            mailbox_id=sub.mailbox_id,
            phone_number_id=sub.phone_number_id,
            agent_identity_id=sub.agent_identity_id,
            owner_identity_id=sub.owner_identity_id,
            url=sub.url if sub.mode == "push" else None,
            mode=sub.mode,
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
    """A new subscription, with what is shown only now."""

    signing_key: str | None = None
    """The owner's `inkbox` signing key, when this create minted it (shown this once)."""
    secret: str | None = None
    """Its signing secret (profiles `standard`, `inbox`, `inboxroad`); readable again at `GET
    .../secret`."""


class SubscriptionList(Out):
    """Subscriptions."""

    subscriptions: list[SubscriptionOut]
    """Subscriptions, oldest first."""
    has_more: bool
    """More rows follow: ask again with a larger `offset`."""


class TestSendIn(In):
    """A test send."""

    event_type: EventType
    """A subscribable event type of the catalog; its example payload is sent."""


class SecretOut(Out):
    """A subscription's signing secret."""

    secret: str
    """The secret (`whsec_` and base64 of its key bytes)."""


class RotateSecretIn(In):
    """How to rotate."""

    grace_period_s: (
        Annotated[Int, Field(json_schema_extra={"minimum": 0, "maximum": MAX_GRACE_S})] | None
    ) = None
    """Seconds (0 to 604800, a week) the old secret keeps signing beside the new one; by
    default it stops signing at once."""


class RecoverIn(In):
    """What to recover."""

    since: IsoDateTime
    """Re-queue failed deliveries created since this time (ISO 8601 with a timezone; not in the
    future)."""


class RecoverOut(Out):
    """What was recovered."""

    requeued: int
    """How many failed deliveries were queued again."""
