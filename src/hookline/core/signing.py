"""HMAC signatures of every wire profile. Pure functions over bytes."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from collections.abc import Sequence

STANDARD_SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
#: decoded keys kept: every attempt signs, most with one of a few keys
KEY_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def standard_key_bytes(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: base64 after the ``whsec_`` prefix."""
    raw = secret.removeprefix(STANDARD_SECRET_PREFIX)
    return base64.b64decode(raw)


def inkbox_key_bytes(secret: str) -> bytes:
    """The HMAC key of an Inkbox signing key: the UTF-8 string without ``whsec_``."""
    return secret.removeprefix(STANDARD_SECRET_PREFIX).encode()


def sign_standard(secrets: Sequence[str], msg_id: str, timestamp: str, body: bytes) -> str:
    """``webhook-signature``: one ``v1,<base64>`` per valid secret, space separated."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    parts = []
    for secret in secrets:
        digest = hmac.new(standard_key_bytes(secret), signed, hashlib.sha256).digest()
        parts.append("v1," + base64.b64encode(digest).decode())
    return " ".join(parts)


def sign_inkbox(secret: str, request_id: str, timestamp: str, body: bytes) -> str:
    """``X-Inkbox-Signature``: ``sha256=<hex>`` over ``{request_id}.{timestamp}.{body}``."""
    signed = f"{request_id}.{timestamp}.".encode() + body
    return "sha256=" + hmac.new(inkbox_key_bytes(secret), signed, hashlib.sha256).hexdigest()


def sign_inbox(secret: str, body: bytes) -> str:
    """``X-Inbox-Signature``: ``sha256=<hex>`` of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sign_inboxroad(secret: str, body: bytes) -> str:
    """``X-Signature``: base64 of the HMAC of the body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify_standard(secret: str, msg_id: str, timestamp: str, body: bytes, header: str) -> bool:
    """True when any ``v1`` signature in ``header`` matches (constant-time)."""
    expected = sign_standard([secret], msg_id, timestamp, body).encode()
    return any(hmac.compare_digest(expected, part.encode()) for part in header.split())
