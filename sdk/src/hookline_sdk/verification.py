"""Receiver-side verification of Hookline's four wire profiles.

Each profile signs the exact bytes sent, so verify the raw body as received, before any JSON
parsing or re-encoding. Every comparison of a signature is constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from hookline_sdk.errors import (
    InvalidHeader,
    InvalidPayload,
    InvalidSignature,
    MissingHeader,
    TimestampOutOfTolerance,
)

STANDARD: Final = "standard"
INKBOX: Final = "inkbox"
INBOX: Final = "inbox"
INBOXROAD: Final = "inboxroad"
PROFILES: Final = (STANDARD, INKBOX, INBOX, INBOXROAD)
#: the tolerance every profile with a timestamp documents
DEFAULT_TOLERANCE_S: Final = 300
_WHSEC: Final = "whsec_"

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


def verify(
    profile: str,
    secret: str,
    body: bytes | str,
    headers: Headers,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | datetime | None = None,
) -> Any:
    """Check that a received webhook is authentic and return its parsed JSON payload.

    Args:
        profile: ``standard``, ``inkbox``, ``inbox`` or ``inboxroad``.
        secret: the subscription's secret (``inkbox``: the owner's signing key), as Hookline
            showed it.
        body: the raw request body, exactly as received.
        headers: the request headers, any mapping or ``(name, value)`` pairs; names are
            matched case-insensitively.
        tolerance_s: how far the signed timestamp may be from ``now`` (standard, inkbox).
        now: the time to check against, Unix seconds or an aware datetime; defaults to now.

    Raises:
        WebhookVerificationError: one of its subclasses, saying why.
        ValueError: an unknown profile, or a standard secret that is not base64.
    """
    raw = body.encode() if isinstance(body, str) else bytes(body)
    verify_signature(profile, secret, raw, headers, tolerance_s=tolerance_s, now=now)
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidPayload(str(exc)) from None


def verify_signature(
    profile: str,
    secret: str,
    body: bytes | str,
    headers: Headers,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | datetime | None = None,
) -> None:
    """Like :func:`verify`, without parsing the body: returns when the signature holds."""
    raw = body.encode() if isinstance(body, str) else bytes(body)
    found = _lower(headers)
    now_s = _seconds(now)
    if profile == STANDARD:
        key = standard_key(secret)
        msg_id = _header(found, "webhook-id")
        ts = _header(found, "webhook-timestamp")
        signatures = _header(found, "webhook-signature")
        _check_time(ts, "webhook-timestamp", now_s, tolerance_s)
        expected = _hmac(key, f"{msg_id}.{ts}.".encode() + raw)
        if not _any_standard_match(expected, signatures):
            raise InvalidSignature
    elif profile == INKBOX:
        request_id = _header(found, "x-inkbox-request-id")
        ts = _header(found, "x-inkbox-timestamp")
        given = _header(found, "x-inkbox-signature")
        _check_time(ts, "X-Inkbox-Timestamp", now_s, tolerance_s)
        digest = _hmac(inkbox_key(secret), f"{request_id}.{ts}.".encode() + raw)
        _compare(("sha256=" + digest.hex()).encode(), given.strip().lower().encode())
    elif profile == INBOX:
        given = _header(found, "x-inbox-signature")
        digest = _hmac(secret.encode(), raw)
        _compare(("sha256=" + digest.hex()).encode(), given.strip().lower().encode())
    elif profile == INBOXROAD:
        given = _header(found, "x-signature")
        digest = _hmac(secret.encode(), raw)
        _compare(base64.b64encode(digest), given.strip().encode())
    else:
        raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")


def standard_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: the base64 after ``whsec_``, decoded."""
    try:
        return base64.b64decode(secret.removeprefix(_WHSEC), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a standard secret is whsec_ followed by base64") from None


def inkbox_key(secret: str) -> bytes:
    """The HMAC key of an Inkbox signing key: its UTF-8 bytes without ``whsec_``."""
    return secret.removeprefix(_WHSEC).encode()


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _compare(expected: bytes, given: bytes) -> None:
    if not hmac.compare_digest(expected, given):
        raise InvalidSignature


def _any_standard_match(expected: bytes, header: str) -> bool:
    """Whether any ``v1,<base64>`` entry of a space-separated header is ``expected``.

    Every entry is compared (no early exit), and entries of other versions are skipped, as
    the Standard Webhooks specification asks."""
    want = base64.b64encode(expected)
    matched = False
    for entry in header.split():
        version, _, signature = entry.partition(",")
        if version != "v1":
            continue
        matched |= hmac.compare_digest(want, signature.encode())
    return matched


def _check_time(value: str, name: str, now_s: float, tolerance_s: float) -> None:
    try:
        ts = int(value.strip())
    except ValueError:
        raise InvalidHeader(name, "not an integer Unix time") from None
    if abs(now_s - ts) > tolerance_s:
        raise TimestampOutOfTolerance(ts, now_s, tolerance_s)


def _header(found: Mapping[str, str], name: str) -> str:
    value = found.get(name)
    if value is None or not value.strip():
        raise MissingHeader(name)
    return value


def _lower(headers: Headers) -> dict[str, str]:
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return {str(k).lower(): str(v) for k, v in pairs}


def _seconds(now: float | datetime | None) -> float:
    if now is None:
        return time.time()
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise ValueError("now must be an aware datetime")
        return now.timestamp()
    return float(now)
