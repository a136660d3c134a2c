"""Identifiers and secrets. Randomness comes in as ``token_bytes`` so tests can fix it."""

from __future__ import annotations

import base64
import secrets as _secrets
from collections.abc import Callable

TokenBytes = Callable[[int], bytes]

#: bytes of entropy in generated secrets and keys
SECRET_BYTES = 24


def new_uuid(token_bytes: TokenBytes = _secrets.token_bytes) -> str:
    """A random (version 4) UUID in its usual text form."""
    h = bytearray(token_bytes(16))
    h[6] = (h[6] & 0x0F) | 0x40  # version 4
    h[8] = (h[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = h.hex()
    # str(uuid.UUID(...)) does the same at several times the cost, on every delivery
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def new_event_id(token_bytes: TokenBytes = _secrets.token_bytes) -> str:
    return "evt_" + token_bytes(12).hex()


def new_org_id(token_bytes: TokenBytes = _secrets.token_bytes) -> str:
    return "org_" + token_bytes(8).hex()


def new_request_id(token_bytes: TokenBytes = _secrets.token_bytes) -> str:
    return "req_" + token_bytes(12).hex()


def new_standard_secret(token_bytes: TokenBytes = _secrets.token_bytes) -> str:
    """``whsec_`` + base64 of random key bytes (Standard Webhooks)."""
    return "whsec_" + base64.b64encode(token_bytes(SECRET_BYTES)).decode()


def new_plain_secret(prefix: str, token_bytes: TokenBytes = _secrets.token_bytes) -> str:
    """A URL-safe secret used as its UTF-8 bytes (inkbox, inbox, inboxroad)."""
    return prefix + base64.urlsafe_b64encode(token_bytes(SECRET_BYTES)).decode().rstrip("=")


def new_api_key(token_bytes: TokenBytes = _secrets.token_bytes) -> str:
    return "hl_" + base64.urlsafe_b64encode(token_bytes(30)).decode().rstrip("=")
