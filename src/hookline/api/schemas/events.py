"""Event and delivery-log schemas."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, get_args

from pydantic import Field
from pydantic_core import to_json

from hookline.api.schemas.common import EventType, In, IsoDateTime, Out, enum
from hookline.core import attempt_headers
from hookline.core.models import Attempt, Delivery, DeliveryState, Event
from hookline.core.timefmt import iso_from_ms, ms_from_datetime
from hookline.services.publishing import MAX_BATCH, EventInput
from hookline.storage.records import Published


class EventIn(In):
    """One event to publish. Name at most one owner (`mailbox`, `phone_number` or
    `agent_handle`); an event with none goes to organization-wide subscriptions only."""

    id: str | None = Field(None, examples=["evt_order_1234_delivered"])
    """Your id for the event (1-128 printable characters, no spaces); publishing the same id
    again is idempotent. Hookline makes an `evt_...` id when it is left out."""
    type: EventType
    """An event type of the catalog (`GET /webhooks/catalog`), e.g. `message.delivered`."""
    mailbox: str | None = None
    """The email address of the registered mailbox the event is about."""
    phone_number: str | None = None
    """The E.164 number of the registered phone number the event is about."""
    agent_handle: str | None = None
    """The handle of the registered identity the event is about."""
    domain: str | None = None
    """The sending domain, matched against subscriptions' `filters.domains`."""
    data: dict[str, Any] = Field(
        default_factory=dict,
        examples=[{"message_id": "msg_1234567890", "recipient": "alice@example.org"}],
    )
    """The event's payload, delivered as is: a JSON object of at most 256 KiB."""
    occurred_at: IsoDateTime | None = None
    """When it happened (ISO 8601 with a timezone; at most a day ahead). Defaults to now;
    delivered as the body's timestamp."""

    def to_input(self) -> EventInput:
        return EventInput(
            id=self.id,
            type=self.type,
            mailbox=self.mailbox,
            phone_number=self.phone_number,
            agent_handle=self.agent_handle,
            domain=self.domain,
            data=self.data,
            occurred_at_ms=ms_from_datetime(self.occurred_at) if self.occurred_at else None,
        )


class EventBatchIn(In):
    """Events published in one request and one transaction."""

    events: list[EventIn] = Field(json_schema_extra={"minItems": 1, "maxItems": MAX_BATCH})
    """1 to 1,000 events, each as for `POST /events`."""


class PublishedOut(Out):
    """The answer to a publish."""

    id: str
    """The event's id."""
    type: str
    """The event's type."""
    timestamp: str
    """When the event occurred (ISO 8601)."""
    deliveries: int
    """How many deliveries this publish created (0 for a repeated id)."""
    #: true when the id was already known: nothing new was created
    duplicate: bool
    """True when the id was already known: the stored event is answered, nothing new was
    created."""

    @classmethod
    def of(cls, p: Published) -> PublishedOut:
        # built from stored values, which need no validation: a batch answers 1,000 of these
        return cls.model_construct(
            id=p.event.id,
            type=p.event.type,
            timestamp=iso_from_ms(p.event.occurred_at_ms),
            deliveries=p.deliveries,
            duplicate=not p.created,
        )


class PublishedBatchOut(Out):
    """The answer to a batch publish."""

    events: list[PublishedOut]
    """One result per event, in the order sent."""


def published_json(results: Sequence[Published], *, batch: bool) -> bytes:
    """The answer to a publish, byte for byte as ``PublishedOut`` (or ``PublishedBatchOut``)
    serializes it, built from plain dicts: a batch answers 1,000 of these, and building them as
    models costs several times as much (docs/perf/2026-12-02-publish-road-and-http-client.md)."""
    # a batch's events mostly share their instant (the publish's, when they name none)
    stamps: dict[int, str] = {}
    out = [
        {
            "id": p.event.id,
            "type": p.event.type,
            "timestamp": stamps.get(p.event.occurred_at_ms)
            or stamps.setdefault(p.event.occurred_at_ms, iso_from_ms(p.event.occurred_at_ms)),
            "deliveries": p.deliveries,
            "duplicate": not p.created,
        }
        for p in results
    ]
    return to_json({"events": out} if batch else out[0])


class EventOut(Out):
    """A published event."""

    id: str
    """The event's id."""
    type: str
    """The event's type."""
    timestamp: str
    """When it occurred (ISO 8601)."""
    created_at: str
    """When Hookline stored it (ISO 8601)."""
    mailbox_id: str | None
    """The mailbox it is about, if any."""
    phone_number_id: str | None
    """The phone number it is about, if any."""
    agent_identity_id: str | None
    """The identity it is about (or that owns its mailbox or number), if any."""
    domain: str | None
    """The sending domain it named, if any."""
    data: dict[str, Any]
    """The payload as published."""

    @classmethod
    def of(cls, e: Event) -> EventOut:
        return cls(
            id=e.id,
            type=e.type,
            timestamp=iso_from_ms(e.occurred_at_ms),
            created_at=iso_from_ms(e.created_at_ms),
            mailbox_id=e.mailbox_id,
            phone_number_id=e.phone_number_id,
            agent_identity_id=e.agent_identity_id,
            domain=e.domain,
            data=dict(e.data),
        )


class AttemptOut(Out):
    """One logged HTTP request of a delivery (or of an incoming-call callback)."""

    id: str
    """The attempt's id (replay takes it)."""
    organization_id: str
    """The organization."""
    webhook_subscription_id: str | None
    """The subscription it was sent for (null for an incoming-call callback)."""
    delivery_id: str | None
    """The delivery it belongs to (null for test sends and incoming-call callbacks)."""
    phone_number_id: str | None
    """The phone number of an incoming-call callback."""
    event_id: str
    """The id of the event sent."""
    event_type: str
    """The type of the event sent."""
    url: str
    """Where it was sent."""
    request_payload: Any
    """The body sent, parsed as JSON (or the raw text if it is not JSON)."""
    response_status: int | None
    """The receiver's HTTP status; null when no answer came (timeout, connection error)."""
    response_body: str | None
    """The start of the receiver's answer (truncated)."""
    error_detail: str | None
    """Why no answer came, or why the answer was refused."""
    duration_ms: int
    """How long the request took, in milliseconds."""
    success: bool
    """Whether the receiver answered 2xx."""
    is_replay: bool
    """Whether this attempt was a replay."""
    created_at: str
    """When the attempt was made (ISO 8601)."""
    replayable: bool
    """Whether `POST /webhooks/deliveries/{id}/replay` can re-send it."""
    replay_unavailable_reason: str | None
    """Why it cannot be replayed, when it cannot."""
    mailbox_id: str | None = None
    """The mailbox whose subscription it was sent for, if any."""
    agent_identity_id: str | None = None
    """The identity whose identity-wide subscription it was sent for, if any."""
    request_headers: dict[str, str] | None = None
    """The headers sent; the `Authorization` token and custom header values are masked
    (null for attempts logged before headers were kept)."""
    response_headers: dict[str, str] | None = None
    """The receiver's answer's headers, the first 8 KiB of them (null when no answer came)."""

    @classmethod
    def of(cls, a: Attempt) -> AttemptOut:
        try:
            payload: Any = json.loads(a.request_payload)
        except ValueError:
            payload = a.request_payload
        return cls(
            id=a.id,
            organization_id=a.organization_id,
            webhook_subscription_id=a.subscription_id,
            delivery_id=a.delivery_id,
            phone_number_id=a.phone_number_id,
            event_id=a.event_id,
            event_type=a.event_type,
            url=a.url,
            request_payload=payload,
            response_status=a.response_status,
            response_body=a.response_body,
            error_detail=a.error_detail,
            duration_ms=a.duration_ms,
            success=a.response_status is not None and 200 <= a.response_status < 300,
            is_replay=a.is_replay,
            created_at=iso_from_ms(a.created_at_ms),
            replayable=a.replayable,
            replay_unavailable_reason=a.replay_unavailable_reason,
            mailbox_id=a.mailbox_id,
            agent_identity_id=a.agent_identity_id,
            request_headers=attempt_headers.parse(a.request_headers),
            response_headers=attempt_headers.parse(a.response_headers),
        )


class AttemptList(Out):
    """A page of the attempt log."""

    deliveries: list[AttemptOut]
    """Attempts, newest first."""
    has_more: bool
    """More rows follow: ask again with `cursor` set to `next_cursor` (or a larger
    `offset`)."""
    next_cursor: str | None = None
    """The `cursor` of the next page; null on the last page."""


class DeliveryOut(Out):
    """One event on its way to one subscription."""

    id: str
    """The delivery's id."""
    event_id: str
    """The event."""
    webhook_subscription_id: str
    """The subscription."""
    state: str = Field(json_schema_extra=enum(*get_args(DeliveryState)))
    """Where it is: `pending` (waiting for its next attempt), `delivering`, `held` (its
    subscription is disabled: kept unsent until it is enabled again), `succeeded`, `failed`
    (attempts exhausted) or `cancelled` (its subscription was deleted, or its held deliveries
    dropped)."""
    attempts: int
    """How many attempts were made."""
    next_attempt_at: str | None
    """When the next attempt is due, while pending or delivering (ISO 8601)."""
    last_attempt_at: str | None
    """When the last attempt was made (ISO 8601)."""
    last_status: int | None
    """The HTTP status of the last attempt, if one came."""
    last_error: str | None
    """Why the last attempt failed, if it did."""
    created_at: str
    """When the delivery was created (ISO 8601)."""
    updated_at: str
    """When it last changed (ISO 8601)."""

    @classmethod
    def of(cls, d: Delivery) -> DeliveryOut:
        return cls(
            id=d.id,
            event_id=d.event_id,
            webhook_subscription_id=d.subscription_id,
            state=d.state,
            attempts=d.attempts,
            next_attempt_at=iso_from_ms(d.next_attempt_at_ms)
            if d.next_attempt_at_ms is not None and d.state in ("pending", "delivering")
            else None,
            last_attempt_at=iso_from_ms(d.last_attempt_at_ms)
            if d.last_attempt_at_ms is not None
            else None,
            last_status=d.last_status,
            last_error=d.last_error,
            created_at=iso_from_ms(d.created_at_ms),
            updated_at=iso_from_ms(d.updated_at_ms),
        )


class EventDeliveriesOut(Out):
    """An event and what became of it."""

    event: EventOut
    """The event."""
    deliveries: list[DeliveryOut]
    """Its deliveries, one per subscription it was routed to."""
    attempts: list[AttemptOut]
    """Every attempt made for it, newest first."""
    has_more: bool
    """More attempts than these (the latest) were logged: the delivery log has them all."""
