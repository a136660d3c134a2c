"""Millisecond timestamps to and from ISO 8601."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from hookline.core.timefmt import iso_from_ms, ms_from_datetime

MS = 1_736_936_703_000  # 2025-01-15T10:25:03Z


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (MS, "2025-01-15T10:25:03Z"),
        (MS + 123, "2025-01-15T10:25:03.123Z"),
        (MS + 5, "2025-01-15T10:25:03.005Z"),
        (MS + 999, "2025-01-15T10:25:03.999Z"),
        (0, "1970-01-01T00:00:00Z"),
        (1_767_225_600_000, "2026-01-01T00:00:00Z"),
    ],
)
def test_iso_from_ms(ms: int, text: str) -> None:
    assert iso_from_ms(ms) == text


def test_ms_from_aware_datetime() -> None:
    assert ms_from_datetime(datetime(2025, 1, 15, 10, 25, 3, 123_000, tzinfo=UTC)) == MS + 123
    paris = timezone(timedelta(hours=1))
    assert ms_from_datetime(datetime(2025, 1, 15, 11, 25, 3, tzinfo=paris)) == MS


def test_naive_datetime_is_taken_as_utc() -> None:
    assert ms_from_datetime(datetime(2025, 1, 15, 10, 25, 3)) == MS


def test_every_millisecond_of_a_second_round_trips() -> None:
    for ms in range(MS, MS + 1000):
        dt = datetime.fromisoformat(iso_from_ms(ms))
        assert ms_from_datetime(dt) == ms
