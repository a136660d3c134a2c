"""The health chart's numbers and geometry: pure functions, no server."""

from __future__ import annotations

from hookline.console.charts import bars
from hookline.services.health import Health, Hour


def _hours(*counts: tuple[int, int]) -> tuple[Hour, ...]:
    return tuple(
        Hour(start_ms=i * 3_600_000, succeeded=ok, failed=bad) for i, (ok, bad) in enumerate(counts)
    )


def test_success_percent_is_rounded_down_and_none_without_attempts() -> None:
    assert Health(hours=_hours((3, 1)), last=None, failing_since_ms=None).success_percent == 75
    assert Health(hours=_hours((999, 1)), last=None, failing_since_ms=None).success_percent == 99
    assert Health(hours=_hours((0, 2)), last=None, failing_since_ms=None).success_percent == 0
    assert Health(hours=_hours((0, 0)), last=None, failing_since_ms=None).success_percent is None
    both = Health(hours=_hours((1, 0), (2, 3)), last=None, failing_since_ms=None)
    assert (both.succeeded, both.failed, both.success_percent) == (3, 3, 50)


def test_bars_stack_failures_on_successes_scaled_to_the_busiest_hour() -> None:
    chart = bars(_hours((3, 1), (0, 0), (1, 1)), width=30, height=100, gap=2)
    first, empty, third = chart.bars
    assert (first.x, first.width) == (1.0, 8.0)
    assert (first.ok_y, first.ok_height) == (25.0, 75.0)
    assert (first.bad_y, first.bad_height) == (0.0, 25.0)
    assert (empty.ok_height, empty.bad_height) == (0.0, 0.0)
    assert third.x == 21.0
    assert (third.ok_y, third.ok_height, third.bad_y, third.bad_height) == (75.0, 25.0, 50.0, 25.0)


def test_bars_of_no_attempts_are_flat() -> None:
    chart = bars(_hours((0, 0), (0, 0)), width=10, height=5)
    assert all(b.ok_height == b.bad_height == 0 for b in chart.bars)
    assert bars((), width=10, height=5).bars == ()
