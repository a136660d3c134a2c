"""Millisecond timestamps to and from ISO 8601 (UTC, always with a zone)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime


def iso_from_ms(ms: int) -> str:
    """``2025-01-15T10:25:03Z``, or with milliseconds when they are not zero."""
    seconds, millis = divmod(ms, 1000)
    if millis:
        return f"{_iso_seconds(seconds)}.{millis:03d}Z"
    return _iso_seconds(seconds) + "Z"


@functools.lru_cache(maxsize=4096)
def _iso_seconds(seconds: int) -> str:
    # on the delivery path every attempt formats a timestamp; most share their second
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


def ms_from_datetime(dt: datetime) -> int:
    """Epoch milliseconds of an aware datetime (naive ones are taken as UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)
