"""Retry schedules and the decision taken after each attempt."""

from __future__ import annotations

import dataclasses

import pytest

from hookline.core import retry
from hookline.core.errors import ValidationFailed
from hookline.core.outcome import Outcome, classify
from hookline.core.retry import DeliveryDecision, decide

T0_MS = 1_767_225_600_000
FAIL = classify(status=500, error=None)
OK = classify(status=200, error=None)


def throttled(seconds: int, status: int = 429) -> Outcome:
    return classify(status=status, error=None, retry_after=str(seconds))


def run_until_done(schedule: tuple[int, ...], outcome: Outcome) -> tuple[list[int], str]:
    """Attempt at every due time until the delivery leaves ``pending``; offsets in seconds."""
    now, attempts_made, offsets = T0_MS, 0, []
    while True:
        offsets.append((now - T0_MS) // 1000)
        attempts_made += 1
        d = decide(
            outcome,
            schedule=schedule,
            attempts_made=attempts_made,
            first_attempt_at_ms=T0_MS,
            now_ms=now,
        )
        if d.state != "pending":
            return offsets, d.state
        assert d.next_attempt_at_ms is not None
        assert d.next_attempt_at_ms > now
        now = d.next_attempt_at_ms
        assert attempts_made < 100, "runaway schedule"


def test_default_schedule_is_the_documented_one() -> None:
    assert retry.DEFAULT_SCHEDULE_S == (0, 30, 120, 480, 1920, 7200)


def test_default_schedule_gives_six_attempts_then_failed() -> None:
    offsets, state = run_until_done(retry.DEFAULT_SCHEDULE_S, FAIL)
    assert offsets == [0, 30, 120, 480, 1920, 7200]
    assert state == "failed"


def test_offsets_count_from_the_first_try_not_the_previous_attempt() -> None:
    # The worker ran the 2nd attempt 50 s late; the 3rd is still due at +120 s.
    d = decide(
        FAIL,
        schedule=retry.DEFAULT_SCHEDULE_S,
        attempts_made=2,
        first_attempt_at_ms=T0_MS,
        now_ms=T0_MS + 80_000,
    )
    assert d == DeliveryDecision(state="pending", next_attempt_at_ms=T0_MS + 120_000)


def test_a_late_worker_never_schedules_in_the_past() -> None:
    now = T0_MS + 500_000  # past the +120 s slot
    d = decide(
        FAIL,
        schedule=retry.DEFAULT_SCHEDULE_S,
        attempts_made=2,
        first_attempt_at_ms=T0_MS,
        now_ms=now,
    )
    assert d.state == "pending"
    assert d.next_attempt_at_ms == now


def test_schedule_not_starting_at_zero_is_relative_to_its_first_offset() -> None:
    offsets, state = run_until_done((10, 40, 100), FAIL)
    assert offsets == [0, 30, 90]
    assert state == "failed"


def test_single_offset_schedule_fails_after_one_attempt() -> None:
    assert run_until_done((0,), FAIL) == ([0], "failed")


@pytest.mark.parametrize("jitter_ms", [0, 1, 250, 999, -1, -30_000])
def test_jitter_never_makes_an_attempt_earlier(jitter_ms: int) -> None:
    for attempts_made in range(1, len(retry.DEFAULT_SCHEDULE_S)):
        scheduled = T0_MS + retry.DEFAULT_SCHEDULE_S[attempts_made] * 1000
        d = decide(
            FAIL,
            schedule=retry.DEFAULT_SCHEDULE_S,
            attempts_made=attempts_made,
            first_attempt_at_ms=T0_MS,
            now_ms=T0_MS + retry.DEFAULT_SCHEDULE_S[attempts_made - 1] * 1000,
            jitter_ms=jitter_ms,
        )
        assert d.next_attempt_at_ms == scheduled + max(jitter_ms, 0)


@pytest.mark.parametrize("attempts_made", [1, 3, 6, 7])
def test_success_ends_the_delivery(attempts_made: int) -> None:
    d = decide(
        OK,
        schedule=retry.DEFAULT_SCHEDULE_S,
        attempts_made=attempts_made,
        first_attempt_at_ms=T0_MS,
        now_ms=T0_MS,
    )
    assert d == DeliveryDecision(state="succeeded", next_attempt_at_ms=None)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_pushes_the_next_attempt_later(status: int) -> None:
    now = T0_MS + 1_000
    d = decide(
        throttled(600, status),
        schedule=retry.DEFAULT_SCHEDULE_S,
        attempts_made=1,
        first_attempt_at_ms=T0_MS,
        now_ms=now,
    )
    assert d.state == "pending"
    assert d.next_attempt_at_ms == now + 600_000


def test_retry_after_shorter_than_the_schedule_does_not_pull_it_earlier() -> None:
    d = decide(
        throttled(5),
        schedule=retry.DEFAULT_SCHEDULE_S,
        attempts_made=2,
        first_attempt_at_ms=T0_MS,
        now_ms=T0_MS + 30_000,
    )
    assert d.next_attempt_at_ms == T0_MS + 120_000


def test_retry_after_is_capped() -> None:
    assert retry.MAX_RETRY_AFTER_S == 3600
    now = T0_MS + 30_000
    d = decide(
        throttled(30 * 24 * 3600),
        schedule=retry.DEFAULT_SCHEDULE_S,
        attempts_made=2,
        first_attempt_at_ms=T0_MS,
        now_ms=now,
    )
    assert d.next_attempt_at_ms == now + retry.MAX_RETRY_AFTER_S * 1000


def test_retry_after_cap_does_not_cut_the_schedule_short() -> None:
    # The 6th attempt is due at +7200 s, beyond the cap: the schedule still wins.
    now = T0_MS + 1_920_000
    d = decide(
        throttled(999_999),
        schedule=retry.DEFAULT_SCHEDULE_S,
        attempts_made=5,
        first_attempt_at_ms=T0_MS,
        now_ms=now,
    )
    assert d.next_attempt_at_ms == T0_MS + 7_200_000


def test_retry_after_adds_no_attempts() -> None:
    offsets, state = run_until_done(retry.DEFAULT_SCHEDULE_S, throttled(60))
    assert len(offsets) == 6
    assert state == "failed"


def test_gone_fails_at_once_and_asks_to_disable() -> None:
    d = decide(
        classify(status=410, error=None),
        schedule=retry.DEFAULT_SCHEDULE_S,
        attempts_made=1,
        first_attempt_at_ms=T0_MS,
        now_ms=T0_MS,
    )
    assert d.state == "failed"
    assert d.next_attempt_at_ms is None
    assert d.disable_reason is not None
    assert "410" in d.disable_reason


def test_ordinary_failures_do_not_ask_to_disable() -> None:
    for attempts_made in (1, 6):
        d = decide(
            FAIL,
            schedule=retry.DEFAULT_SCHEDULE_S,
            attempts_made=attempts_made,
            first_attempt_at_ms=T0_MS,
            now_ms=T0_MS,
        )
        assert d.disable_reason is None


def test_decision_is_a_frozen_value() -> None:
    d = DeliveryDecision(state="pending", next_attempt_at_ms=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.state = "failed"  # type: ignore[misc]


def test_validate_schedule_accepts_and_returns_a_tuple() -> None:
    assert retry.validate_schedule([0, 30, 30, 120]) == (0, 30, 30, 120)
    assert retry.validate_schedule([retry.MAX_OFFSET_S]) == (retry.MAX_OFFSET_S,)
    assert len(retry.validate_schedule([0] * retry.MAX_ATTEMPTS)) == retry.MAX_ATTEMPTS


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ([], "at least one"),
        ([0] * (retry.MAX_ATTEMPTS + 1), "at most"),
        ([0, -1], ">= 0"),
        ([0, 1.5], "whole seconds"),
        ([True, 30], "whole seconds"),
        (["30"], "whole seconds"),
        ([0, retry.MAX_OFFSET_S + 1], "at most"),
        ([0, 120, 30], "must not decrease"),
    ],
    ids=["empty", "too-many", "negative", "float", "bool", "string", "too-far", "decreasing"],
)
def test_validate_schedule_errors_name_the_field(values: list[object], reason: str) -> None:
    with pytest.raises(ValidationFailed, match=reason) as exc:
        retry.validate_schedule(values)  # type: ignore[arg-type]
    assert exc.value.field == "retry_schedule"
    with pytest.raises(ValidationFailed) as exc:
        retry.validate_schedule(values, "subscriptions[3].retry_schedule")  # type: ignore[arg-type]
    assert exc.value.field == "subscriptions[3].retry_schedule"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0,30,120,480,1920,7200", (0, 30, 120, 480, 1920, 7200)),
        (" 0 , 5 ,60 ", (0, 5, 60)),
        ("0,10,", (0, 10)),
        ("45", (45,)),
    ],
)
def test_parse_schedule(text: str, expected: tuple[int, ...]) -> None:
    assert retry.parse_schedule(text) == expected


@pytest.mark.parametrize("text", ["", " , ", "0,thirty", "0;30", "0,1.5", "30,0", "0,-5"])
def test_parse_schedule_errors_name_the_setting(text: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        retry.parse_schedule(text)
    assert exc.value.field == "HOOKLINE_RETRY_SCHEDULE"
    assert str(exc.value).startswith("HOOKLINE_RETRY_SCHEDULE: ")
    with pytest.raises(ValidationFailed) as exc:
        retry.parse_schedule(text, "--retry-schedule")
    assert exc.value.field == "--retry-schedule"
