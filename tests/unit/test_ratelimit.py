"""The per-subscription rate limiter (GCRA): pure, exact, no clock."""

from __future__ import annotations

import pytest

from hookline.core.ratelimit import Admission, Taken, admit, burst, take


def run(rate: float, times_ms: list[int]) -> list[Admission]:
    tat: float | None = None
    out = []
    for now in times_ms:
        a = admit(tat, now, rate)
        if a.allowed:
            tat = a.tat_ms
        out.append(a)
    return out


@pytest.mark.parametrize(("rate", "expected"), [(0.5, 1), (1, 1), (2.9, 2), (10, 10), (250, 250)])
def test_burst_is_one_seconds_worth_at_least_one(rate: float, expected: int) -> None:
    assert burst(rate) == expected


def test_a_fresh_limiter_admits_a_burst_then_refuses() -> None:
    got = run(5, [0] * 7)
    assert [a.allowed for a in got] == [True] * 5 + [False, False]
    # the sixth may go one interval (200 ms) after the burst's first
    assert got[5].retry_in_ms == 200
    assert got[5].tat_ms == got[4].tat_ms  # a refusal leaves the state unchanged


def test_steady_spacing_at_the_rate() -> None:
    # 2/s: after a burst of 2, one every 500 ms
    got = run(2, [0, 0, 0, 499, 500, 999, 1000])
    assert [a.allowed for a in got] == [True, True, False, False, True, False, True]
    assert got[2].retry_in_ms == 500
    assert got[3].retry_in_ms == 1


def test_quiet_spell_restores_the_burst_but_no_more() -> None:
    got = run(3, [0, 0, 0, 10_000, 10_000, 10_000, 10_000])
    assert [a.allowed for a in got] == [True, True, True, True, True, True, False]


def test_slow_rates_below_one_per_second() -> None:
    got = run(0.5, [0, 1000, 1999, 2000])
    assert [a.allowed for a in got] == [True, False, False, True]
    assert got[1].retry_in_ms == 1000


def test_over_any_window_never_more_than_rate_plus_burst() -> None:
    rate = 7.0
    times = list(range(0, 10_000, 13))  # asks every 13 ms for 10 s
    allowed = [t for t, a in zip(times, run(rate, times), strict=True) if a.allowed]
    for start in range(0, 9_000, 250):
        in_window = [t for t in allowed if start <= t < start + 1000]
        assert len(in_window) <= rate + burst(rate)
    assert 69 <= len(allowed) <= 77  # about 7/s over 10 s, plus the first burst


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        admit(None, 0, 0)


def test_a_capacity_sets_the_bucket_size_apart_from_the_rate() -> None:
    # 20 a minute: 20 at once after a quiet spell, then one every 3 s
    tat: float | None = None
    allowed = []
    for _ in range(21):
        a = admit(tat, 0, 20 / 60, capacity=20)
        if a.allowed:
            tat = a.tat_ms
        allowed.append(a.allowed)
    assert allowed == [True] * 20 + [False]
    assert admit(tat, 0, 20 / 60, capacity=20).retry_in_ms == 3000
    assert admit(tat, 3000, 20 / 60, capacity=20).allowed


def test_take_grants_what_admit_would_one_after_the_other() -> None:
    tat: float | None = None
    for now in (0, 0, 130, 700, 700, 5000):
        taken = take(tat, now, 5.0, 3)
        one_by_one, state = 0, tat
        for _ in range(3):
            a = admit(state, now, 5.0)
            if not a.allowed:
                assert taken.retry_in_ms == a.retry_in_ms
                break
            one_by_one, state = one_by_one + 1, a.tat_ms
        assert taken.granted == one_by_one
        if taken.granted == 3:
            assert taken.retry_in_ms == 0
        tat = taken.tat_ms


def test_take_of_nothing_changes_nothing() -> None:
    assert take(None, 10, 2.0, 0) == Taken(granted=0, tat_ms=None)
