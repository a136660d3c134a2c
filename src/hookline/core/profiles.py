"""Wire profiles: how an event looks on the wire, and how it is signed.

The event is stored once; a profile shapes its body (``services.wire`` writes the exact bytes
that are signed and sent) and, per attempt, its headers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from hookline.core import signing
from hookline.core.catalog import CATALOG
from hookline.core.frozen import frozen
from hookline.core.timefmt import iso_from_ms

STANDARD: Final = "standard"
INKBOX: Final = "inkbox"
INBOX: Final = "inbox"
INBOXROAD: Final = "inboxroad"
PROFILES: Final = (STANDARD, INKBOX, INBOX, INBOXROAD)
#: profiles whose key belongs to the subscription (inkbox uses the owner's signing key)
PER_SUBSCRIPTION_SECRET: Final = frozenset({STANDARD, INBOX, INBOXROAD})
#: profiles that send (and sign) an attempt's request id; the others never look at it
REQUEST_ID_SENT: Final = frozenset({INKBOX})


def inboxroad_kind(event_type: str) -> str:
    known = CATALOG.get(event_type)
    return known.inboxroad_kind if known else event_type


def body_object(
    profile: str, *, event_id: str, event_type: str, occurred_at_ms: int, data: Mapping[str, Any]
) -> dict[str, Any]:
    """The body of ``profile`` for one event, as the JSON object it is written from (in key
    order). Deterministic: same event, same object."""
    ts = iso_from_ms(occurred_at_ms)
    if profile == STANDARD:
        return {"id": event_id, "type": event_type, "timestamp": ts, "data": data}
    if profile == INKBOX:
        return {"id": event_id, "event_type": event_type, "timestamp": ts, "data": data}
    if profile == INBOX:
        return {"id": event_id, "type": event_type, "created_at": ts, "data": data}
    if profile == INBOXROAD:
        flat: dict[str, Any] = {"kind": inboxroad_kind(event_type)}
        flat.update(data)
        flat["timestamp"] = ts
        flat["message_id"] = data.get("message_id", event_id)
        return flat
    raise ValueError(f"unknown profile {profile!r}")


@frozen
class AttemptIdentity:
    """What changes from one attempt to the next."""

    timestamp_s: int
    request_id: str


def sign_headers(
    profile: str,
    *,
    body: bytes,
    event_id: str,
    secrets: Sequence[str],
    attempt: AttemptIdentity,
) -> dict[str, str]:
    """Signature headers of ``profile``. ``secrets`` holds every valid key, current first."""
    if not secrets:
        raise ValueError("a delivery needs at least one signing secret")
    ts = str(attempt.timestamp_s)
    if profile == STANDARD:
        return {
            "webhook-id": event_id,
            "webhook-timestamp": ts,
            "webhook-signature": signing.sign_standard(secrets, event_id, ts, body),
        }
    if profile == INKBOX:
        return {
            "X-Inkbox-Request-ID": attempt.request_id,
            "X-Inkbox-Timestamp": ts,
            "X-Inkbox-Signature": signing.sign_inkbox(secrets[0], attempt.request_id, ts, body),
        }
    if profile == INBOX:
        return {"X-Inbox-Signature": signing.sign_inbox(secrets[0], body)}
    if profile == INBOXROAD:
        return {"X-Signature": signing.sign_inboxroad(secrets[0], body)}
    raise ValueError(f"unknown profile {profile!r}")


@frozen
class OutgoingRequest:
    body: bytes
    headers: dict[str, str]


def build_request(
    profile: str,
    *,
    body: bytes,
    event_id: str,
    secrets: Sequence[str],
    attempt: AttemptIdentity,
    custom_headers: Mapping[str, str],
    user_agent: str,
    auth_token: str | None,
) -> OutgoingRequest:
    """Body and every header of one attempt of ``profile``. ``body`` is the event's body for
    this profile (``services.wire.render_body``), made once however many attempts sign it."""
    sig = sign_headers(profile, body=body, event_id=event_id, secrets=secrets, attempt=attempt)
    headers = request_headers(
        signature_headers=sig,
        custom_headers=custom_headers,
        user_agent=user_agent,
        auth_token=auth_token,
    )
    return OutgoingRequest(body=body, headers=headers)


def request_headers(
    *,
    signature_headers: Mapping[str, str],
    custom_headers: Mapping[str, str],
    user_agent: str,
    auth_token: str | None,
) -> dict[str, str]:
    """All headers of one attempt. Hookline's own headers win over custom ones."""
    own: dict[str, str] = {"Content-Type": "application/json", "User-Agent": user_agent}
    if auth_token:
        own["Authorization"] = f"Bearer {auth_token}"
    own.update(signature_headers)
    if not custom_headers:
        return own  # most subscriptions set none
    # header names are case-insensitive: a custom "content-type" would otherwise be sent too
    taken = {name.lower() for name in own}
    headers = {k: v for k, v in custom_headers.items() if k.lower() not in taken}
    headers.update(own)
    return headers
