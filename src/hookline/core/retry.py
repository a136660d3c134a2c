"""Retry schedules and the decision taken after each attempt."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from hookline.core.errors import ValidationFailed
from hookline.core.frozen import frozen
from hookline.core.outcome import Outcome

DEFAULT_SCHEDULE_S: tuple[int, ...] = (0, 30, 120, 480, 1920, 7200)
MAX_ATTEMPTS = 50
MAX_OFFSET_S = 30 * 24 * 3600  # a delivery gives up within 30 days
MAX_RETRY_AFTER_S = 3600  # Retry-After is honoured up to an hour


def validate_schedule(values: Sequence[int], field: str = "retry_schedule") -> tuple[int, ...]:
    """A non-empty, non-decreasing list of whole seconds from the first try."""
    if not values:
        raise ValidationFailed(field, "must hold at least one offset")
    if len(values) > MAX_ATTEMPTS:
        raise ValidationFailed(field, f"at most {MAX_ATTEMPTS} attempts")
    out: list[int] = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValidationFailed(field, f"offsets are whole seconds >= 0, got {v!r}")
        if v > MAX_OFFSET_S:
            raise ValidationFailed(field, f"offsets are at most {MAX_OFFSET_S} s")
        if out and v < out[-1]:
            raise ValidationFailed(field, "offsets must not decrease")
        out.append(v)
    return tuple(out)


def parse_schedule(text: str, field: str = "HOOKLINE_RETRY_SCHEDULE") -> tuple[int, ...]:
    """Parse ``"0,30,120"``."""
    try:
        values = [int(p.strip()) for p in text.split(",") if p.strip()]
    except ValueError as exc:
        raise ValidationFailed(field, f"comma-separated whole seconds expected: {text!r}") from exc
    return validate_schedule(values, field)


@frozen
class DeliveryDecision:
    """What becomes of a delivery after one attempt."""

    state: Literal["succeeded", "pending", "failed"]
    next_attempt_at_ms: int | None
    #: set when the endpoint asked to be dropped (410 Gone)
    disable_reason: str | None = None


def decide(
    outcome: Outcome,
    *,
    schedule: Sequence[int],
    attempts_made: int,
    first_attempt_at_ms: int,
    now_ms: int,
    jitter_ms: int = 0,
) -> DeliveryDecision:
    """Decide after attempt number ``attempts_made`` (1-based).

    Attempt ``i`` (0-based) is due ``schedule[i] - schedule[0]`` seconds after the first try,
    plus a non-negative jitter: never earlier than scheduled. ``Retry-After`` can only push
    the next attempt later, and only up to ``MAX_RETRY_AFTER_S``.
    """
    if outcome.success:
        return DeliveryDecision(state="succeeded", next_attempt_at_ms=None)
    if outcome.gone:
        return DeliveryDecision(
            state="failed", next_attempt_at_ms=None, disable_reason="endpoint answered 410 Gone"
        )
    if attempts_made >= len(schedule):
        return DeliveryDecision(state="failed", next_attempt_at_ms=None)
    offset_s = schedule[attempts_made] - schedule[0]
    due = first_attempt_at_ms + offset_s * 1000 + max(jitter_ms, 0)
    if outcome.retry_after_s is not None:
        due = max(due, now_ms + int(min(outcome.retry_after_s, MAX_RETRY_AFTER_S) * 1000))
    return DeliveryDecision(state="pending", next_attempt_at_ms=max(due, now_ms))
