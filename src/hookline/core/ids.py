"""Identifiers and secrets. Randomness comes in as ``token_bytes`` so tests can fix it."""

from __future__ import annotations

import base64
import os
import secrets as _secrets
import threading
from collections.abc import Callable

TokenBytes = Callable[[int], bytes]

#: bytes of entropy in generated secrets and keys
SECRET_BYTES = 24
POOL_BYTES = 4096  # drawn from the OS at a time for identifiers


class _RandomPool:
    """``os.urandom`` drawn 4 KiB at a time: identifiers (several per delivery) then cost one
    system call per few hundred instead of one each. Secrets and keys do not use it."""

    def __init__(self) -> None:
        self._buf = b""
        self._at = 0
        self._lock = threading.Lock()

    def __call__(self, n: int) -> bytes:
        with self._lock:
            if self._at + n > len(self._buf):
                self._buf = os.urandom(max(POOL_BYTES, n))
                self._at = 0
            out = self._buf[self._at : self._at + n]
            self._at += n
            return out


_pooled = _RandomPool()


def new_uuid(token_bytes: TokenBytes = _pooled) -> str:
    """A random (version 4) UUID in its usual text form."""
    h = bytearray(token_bytes(16))
    h[6] = (h[6] & 0x0F) | 0x40  # version 4
    h[8] = (h[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = h.hex()
    # str(uuid.UUID(...)) does the same at several times the cost, on every delivery
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


#: the RFC 9562 variant's hex digit (binary 10xx) for each random hex digit, its low two bits kept
_VARIANT_DIGIT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}


def new_time_uuid(now_ms: int, token_bytes: TokenBytes = _pooled) -> str:
    """A time-ordered (version 7) UUID: 48 bits of ``now_ms``, then 74 random bits.

    For rows written at a high rate (deliveries, attempts): ids that grow with time land at
    the right edge of their primary-key index, so a batch of inserts dirties a few pages
    instead of one page per row scattered over the whole index (SQLite writes every changed
    page to its write-ahead log at commit; PostgreSQL's indexes fill and split pages the same
    way)."""
    if not 0 <= now_ms < 1 << 48:
        raise ValueError("now_ms must fit in 48 bits")
    t = f"{now_ms:012x}"
    r = token_bytes(10).hex()
    return f"{t[:8]}-{t[8:]}-7{r[1:4]}-{_VARIANT_DIGIT[r[4]]}{r[5:8]}-{r[8:]}"


def new_time_uuids(now_ms: int, count: int, token_bytes: TokenBytes = _pooled) -> list[str]:
    """``count`` time-ordered UUIDs of ``now_ms`` (see :func:`new_time_uuid`), with one draw
    of randomness and one hex conversion for all of them: a batch publish makes one per
    delivery, and one at a time they cost several times as much
    (docs/perf/2026-12-03-batch-publish-ids-and-timestamps.md).

    Written in hex digits: of each id's 10 random bytes (20 digits), the first digit gives way
    to the version (7) and the fifth keeps its low two bits under the variant's ``10``."""
    if not 0 <= now_ms < 1 << 48:
        raise ValueError("now_ms must fit in 48 bits")
    t = f"{now_ms:012x}"
    head = f"{t[:8]}-{t[8:]}-7"
    raw = token_bytes(10 * count).hex()
    v = _VARIANT_DIGIT
    return [
        f"{head}{raw[i + 1 : i + 4]}-{v[raw[i + 4]]}{raw[i + 5 : i + 8]}-{raw[i + 8 : i + 20]}"
        for i in range(0, 20 * count, 20)
    ]


def new_event_id(token_bytes: TokenBytes = _pooled) -> str:
    return "evt_" + token_bytes(12).hex()


def new_org_id(token_bytes: TokenBytes = _secrets.token_bytes) -> str:
    return "org_" + token_bytes(8).hex()


def new_request_id(token_bytes: TokenBytes = _pooled) -> str:
    return "req_" + token_bytes(12).hex()


def new_task_id(token_bytes: TokenBytes = _pooled) -> str:
    """A background task's id (``task_`` and 24 hex digits)."""
    return "task_" + token_bytes(12).hex()


def new_standard_secret(token_bytes: TokenBytes = _secrets.token_bytes) -> str:
    """``whsec_`` + base64 of random key bytes (Standard Webhooks)."""
    return "whsec_" + base64.b64encode(token_bytes(SECRET_BYTES)).decode()


def new_plain_secret(prefix: str, token_bytes: TokenBytes = _secrets.token_bytes) -> str:
    """A URL-safe secret used as its UTF-8 bytes (inkbox, inbox, inboxroad)."""
    return prefix + base64.urlsafe_b64encode(token_bytes(SECRET_BYTES)).decode().rstrip("=")


def new_api_key(token_bytes: TokenBytes = _secrets.token_bytes) -> str:
    return "hl_" + base64.urlsafe_b64encode(token_bytes(30)).decode().rstrip("=")
