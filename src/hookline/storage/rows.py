"""Rows to domain values and back: the only place that knows column names."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

from hookline.core.models import (
    ApiKey,
    Attempt,
    Delivery,
    DeliveryState,
    Event,
    Identity,
    Mailbox,
    Organization,
    PhoneNumber,
    Scope,
    Subscription,
)

Row = Mapping[Any, Any]


def organization(r: Row) -> Organization:
    return Organization(id=r["id"], name=r["name"], created_at_ms=r["created_ms"])


def api_key(r: Row) -> ApiKey:
    return ApiKey(
        id=r["id"],
        organization_id=r["organization_id"],
        prefix=r["prefix"],
        scope=cast(Scope, r["scope"]),
        agent_identity_id=r["agent_identity_id"],
        name=r["name"],
        created_at_ms=r["created_ms"],
        revoked_at_ms=r["revoked_ms"],
    )


def identity(r: Row) -> Identity:
    return Identity(
        id=r["id"],
        organization_id=r["organization_id"],
        agent_handle=r["agent_handle"],
        created_at_ms=r["created_ms"],
    )


def mailbox(r: Row) -> Mailbox:
    return Mailbox(
        id=r["id"],
        organization_id=r["organization_id"],
        email_address=r["email_address"],
        agent_identity_id=r["agent_identity_id"],
        webhook_url=r["webhook_url"],
        created_at_ms=r["created_ms"],
    )


def phone_number(r: Row) -> PhoneNumber:
    return PhoneNumber(
        id=r["id"],
        organization_id=r["organization_id"],
        number=r["number"],
        agent_identity_id=r["agent_identity_id"],
        incoming_call_action=r["incoming_call_action"],
        incoming_call_webhook_url=r["incoming_call_webhook_url"],
        created_at_ms=r["created_ms"],
    )


def _decoded(value: Any) -> Any:
    """A JSON column's value: stored text, or already decoded (SQLite's bulk claim)."""
    return json.loads(value) if isinstance(value, str) else value


def subscription(r: Row) -> Subscription:
    schedule = _decoded(r["retry_schedule"])
    return Subscription(
        id=r["id"],
        organization_id=r["organization_id"],
        url=r["url"],
        event_types=tuple(_decoded(r["event_types"])),
        mailbox_id=r["mailbox_id"],
        phone_number_id=r["phone_number_id"],
        agent_identity_id=r["agent_identity_id"],
        owner_identity_id=r["owner_identity_id"],
        name=r["name"],
        description=r["description"],
        enabled=bool(r["enabled"]),
        disabled_reason=r["disabled_reason"],
        profile=r["profile"],
        headers=_decoded(r["headers"]),
        domains=tuple(_decoded(r["domains"])),
        retry_schedule=None if schedule is None else tuple(schedule),
        max_in_flight=r["max_in_flight"],
        rate_limit_per_second=r["rate_limit_per_second"],
        has_auth_token=r["auth_token_enc"] is not None,
        source=r["source"],
        created_at_ms=r["created_ms"],
        updated_at_ms=r["updated_ms"],
        mode=r["mode"],
    )


#: domain field → (column, encoder) for subscription updates
SUBSCRIPTION_COLUMNS: Mapping[str, tuple[str, Any]] = {
    "url": ("url", None),
    "event_types": ("event_types", lambda v: json.dumps(list(v))),
    "name": ("name", None),
    "description": ("description", None),
    "enabled": ("enabled", None),
    "disabled_reason": ("disabled_reason", None),
    "profile": ("profile", None),
    "headers": ("headers", lambda v: json.dumps(dict(v))),
    "domains": ("domains", lambda v: json.dumps(list(v))),
    "retry_schedule": ("retry_schedule", lambda v: None if v is None else json.dumps(list(v))),
    "max_in_flight": ("max_in_flight", None),
    "rate_limit_per_second": ("rate_limit_per_second", None),
}


def subscription_values(sub: Subscription) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": sub.id,
        "organization_id": sub.organization_id,
        "mailbox_id": sub.mailbox_id,
        "phone_number_id": sub.phone_number_id,
        "agent_identity_id": sub.agent_identity_id,
        "owner_identity_id": sub.owner_identity_id,
        "source": sub.source,
        "mode": sub.mode,
        "created_ms": sub.created_at_ms,
        "updated_ms": sub.updated_at_ms,
    }
    for fld, (col, enc) in SUBSCRIPTION_COLUMNS.items():
        v = getattr(sub, fld)
        values[col] = enc(v) if enc else v
    return values


def event(r: Row, prefix: str = "") -> Event:
    data = r[prefix + "data"]  # the stored text, or already decoded (SQLite's bulk claim)
    return Event(
        id=r[prefix + "id"],
        organization_id=r[prefix + "organization_id"],
        type=r[prefix + "type"],
        data=json.loads(data) if isinstance(data, str) else data,
        occurred_at_ms=r[prefix + "occurred_ms"],
        created_at_ms=r[prefix + "created_ms"],
        mailbox_id=r[prefix + "mailbox_id"],
        phone_number_id=r[prefix + "phone_number_id"],
        agent_identity_id=r[prefix + "agent_identity_id"],
        domain=r[prefix + "domain"],
    )


def event_difference(r: Row, ev: Event) -> str | None:
    """What of the event in ``r`` differs from ``ev``, if anything: its times do not count
    (a retried publish that names no occurred_at gets a new one)."""
    if r["type"] != ev.type:
        return "type"
    if (r["mailbox_id"], r["phone_number_id"], r["agent_identity_id"]) != (
        ev.mailbox_id,
        ev.phone_number_id,
        ev.agent_identity_id,
    ):
        return "owner"
    if r["domain"] != ev.domain:
        return "domain"
    # a retry usually sends the same JSON, encoded alike; else compared as canonical JSON, in
    # which true and 1, or 1 and 1.0, differ (as Python's == would not tell)
    if r["data"] != ev.data_json and _canonical(json.loads(r["data"])) != _canonical(ev.data):
        return "data"
    return None


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_values(e: Event) -> dict[str, Any]:
    return {
        "id": e.id,
        "organization_id": e.organization_id,
        "type": e.type,
        "mailbox_id": e.mailbox_id,
        "phone_number_id": e.phone_number_id,
        "agent_identity_id": e.agent_identity_id,
        "domain": e.domain,
        "data": e.data_json
        if e.data_json is not None
        else json.dumps(e.data, separators=(",", ":"), ensure_ascii=False),
        "occurred_ms": e.occurred_at_ms,
        "created_ms": e.created_at_ms,
    }


#: the events table's columns in the order of ``event_tuple``
EVENT_COLUMNS = (
    "organization_id", "id", "type", "mailbox_id", "phone_number_id", "agent_identity_id",
    "domain", "data", "occurred_ms", "created_ms",
)  # fmt: skip


def event_tuple(e: Event) -> tuple[Any, ...]:
    """``event_values`` as a tuple in ``EVENT_COLUMNS``' order: a batch writes a thousand,
    and SQLite's multi-row ``VALUES`` takes them as they come (storage/sqlite_sql.py)."""
    return (
        e.organization_id,
        e.id,
        e.type,
        e.mailbox_id,
        e.phone_number_id,
        e.agent_identity_id,
        e.domain,
        e.data_json
        if e.data_json is not None
        else json.dumps(e.data, separators=(",", ":"), ensure_ascii=False),
        e.occurred_at_ms,
        e.created_at_ms,
    )


def delivery(r: Row) -> Delivery:
    return Delivery(
        id=r["id"],
        organization_id=r["organization_id"],
        event_id=r["event_id"],
        subscription_id=r["subscription_id"],
        state=cast(DeliveryState, r["state"]),
        attempts=r["attempts"],
        next_attempt_at_ms=r["next_attempt_ms"],
        first_attempt_at_ms=r["first_attempt_ms"],
        last_attempt_at_ms=r["last_attempt_ms"],
        last_status=r["last_status"],
        last_error=r["last_error"],
        created_at_ms=r["created_ms"],
        updated_at_ms=r["updated_ms"],
        pull=bool(r["pull"]),
        replay=bool(r["replay"]),
    )


def delivery_values(d: Delivery, *, lease_token: str | None = None) -> dict[str, Any]:
    return {
        "id": d.id,
        "organization_id": d.organization_id,
        "event_id": d.event_id,
        "subscription_id": d.subscription_id,
        "state": d.state,
        "attempts": d.attempts,
        "next_attempt_ms": d.next_attempt_at_ms,
        "lease_token": lease_token,
        "first_attempt_ms": d.first_attempt_at_ms,
        "last_attempt_ms": d.last_attempt_at_ms,
        "last_status": d.last_status,
        "last_error": d.last_error,
        "created_ms": d.created_at_ms,
        "updated_ms": d.updated_at_ms,
        "pull": d.pull,
        "replay": d.replay,
    }


#: the deliveries table's columns in the order of ``delivery_tuple``
DELIVERY_COLUMNS = (
    "id", "organization_id", "event_id", "subscription_id", "state", "attempts",
    "next_attempt_ms", "lease_token", "first_attempt_ms", "last_attempt_ms", "last_status",
    "last_error", "created_ms", "updated_ms", "pull", "replay",
)  # fmt: skip


def delivery_tuple(d: Delivery, lease_token: str | None) -> tuple[Any, ...]:
    """``delivery_values`` as a tuple in ``DELIVERY_COLUMNS``' order (see ``event_tuple``)."""
    return (
        d.id,
        d.organization_id,
        d.event_id,
        d.subscription_id,
        d.state,
        d.attempts,
        d.next_attempt_at_ms,
        lease_token,
        d.first_attempt_at_ms,
        d.last_attempt_at_ms,
        d.last_status,
        d.last_error,
        d.created_at_ms,
        d.updated_at_ms,
        d.pull,
        d.replay,
    )


def attempt(r: Row) -> Attempt:
    return Attempt(
        id=r["id"],
        organization_id=r["organization_id"],
        delivery_id=r["delivery_id"],
        subscription_id=r["subscription_id"],
        phone_number_id=r["phone_number_id"],
        event_id=r["event_id"],
        event_type=r["event_type"],
        url=r["url"],
        request_payload=r["request_payload"],
        response_status=r["response_status"],
        response_body=r["response_body"],
        error_detail=r["error_detail"],
        duration_ms=r["duration_ms"],
        is_replay=bool(r["is_replay"]),
        created_at_ms=r["created_ms"],
        replayable=bool(r["replayable"]),
        replay_unavailable_reason=r["replay_unavailable_reason"],
        mailbox_id=r["mailbox_id"],
        agent_identity_id=r["agent_identity_id"],
        request_headers=r["request_headers"],
        response_headers=r["response_headers"],
    )


def attempt_values(a: Attempt) -> dict[str, Any]:
    return {
        "id": a.id,
        "organization_id": a.organization_id,
        "delivery_id": a.delivery_id,
        "subscription_id": a.subscription_id,
        "phone_number_id": a.phone_number_id,
        "event_id": a.event_id,
        "event_type": a.event_type,
        "url": a.url,
        "request_payload": a.request_payload,
        "response_status": a.response_status,
        "response_body": a.response_body,
        "error_detail": a.error_detail,
        "duration_ms": a.duration_ms,
        "is_replay": a.is_replay,
        "replayable": a.replayable,
        "replay_unavailable_reason": a.replay_unavailable_reason,
        "created_ms": a.created_at_ms,
        "mailbox_id": a.mailbox_id,
        "agent_identity_id": a.agent_identity_id,
        "success": a.response_status is not None and 200 <= a.response_status < 300,
        "request_headers": a.request_headers,
        "response_headers": a.response_headers,
    }
