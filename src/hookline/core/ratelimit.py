"""Per-subscription rate limits: the generic cell rate algorithm (GCRA), as pure functions.

A limit of ``r`` requests per second spaces attempts ``1/r`` seconds apart on average and lets
up to one second's worth (at least one) go at once after a quiet spell. The whole state of a
limiter is one number, the theoretical arrival time (``tat_ms``) of the next request.
"""

from __future__ import annotations

import math

from hookline.core.frozen import frozen

_EPSILON_MS = 1e-6  # sums of 1000/rate drift in the last bits; that is not a refusal


@frozen
class Admission:
    """Whether one attempt may start now, and the limiter state that follows."""

    allowed: bool
    #: the limiter's next state (unchanged when not allowed)
    tat_ms: float
    #: when not allowed: how long until an attempt would be, in milliseconds (> 0)
    retry_in_ms: int = 0


def burst(rate_per_s: float) -> int:
    """How many attempts may go at once after a quiet spell: one second's worth, at least 1."""
    return max(1, math.floor(rate_per_s))


def admit(
    tat_ms: float | None, now_ms: int, rate_per_s: float, capacity: int | None = None
) -> Admission:
    """Ask for one attempt at ``now_ms`` against a limit of ``rate_per_s`` (> 0).

    Args:
        tat_ms: the limiter's state from the last admission, or None for a fresh limiter.
        now_ms: the current time.
        rate_per_s: the subscription's limit.
        capacity: how many may go at once after a quiet spell (a token bucket's size);
            ``burst(rate_per_s)`` when not given.
    """
    if rate_per_s <= 0:
        raise ValueError("rate_per_s must be positive")
    if capacity is not None and capacity < 1:
        raise ValueError("capacity must be at least 1")
    interval_ms = 1000.0 / rate_per_s
    window_ms = interval_ms * (burst(rate_per_s) if capacity is None else capacity)
    tat = now_ms if tat_ms is None else max(tat_ms, float(now_ms))
    new_tat = tat + interval_ms
    earliest = new_tat - window_ms
    if earliest - now_ms > _EPSILON_MS:
        return Admission(
            allowed=False, tat_ms=tat, retry_in_ms=max(1, math.ceil(earliest - now_ms))
        )
    return Admission(allowed=True, tat_ms=new_tat)


@frozen
class Taken:
    """How many of several attempts asked for at once may start now, and the state after."""

    granted: int
    tat_ms: float | None
    #: when fewer were granted than asked for: how long until one more would be (> 0)
    retry_in_ms: int = 0


def take(tat_ms: float | None, now_ms: int, rate_per_s: float, wanted: int) -> Taken:
    """Ask for up to ``wanted`` attempts at ``now_ms`` at once: as many as :func:`admit`
    would let go one after the other, all starting now. The limiter shared by several
    workers (storage/limits_sql.py) keeps its state this way."""
    granted, tat = 0, tat_ms
    while granted < wanted:
        admission = admit(tat, now_ms, rate_per_s)
        if not admission.allowed:
            return Taken(granted=granted, tat_ms=tat, retry_in_ms=admission.retry_in_ms)
        granted, tat = granted + 1, admission.tat_ms
    return Taken(granted=granted, tat_ms=tat)
