"""Sign-in throttling and session expiry rules, with a controlled clock."""

from __future__ import annotations

from hookline.console.throttle import ADDRESS_FACTOR, SignInThrottle
from hookline.core.users import ConsoleSession


class Now:
    def __init__(self) -> None:
        self.s = 1000.0

    def __call__(self) -> float:
        return self.s


def test_an_account_rests_after_its_limit_until_the_window_passes() -> None:
    now = Now()
    throttle = SignInThrottle(3, window_s=60, now=now)
    for _ in range(3):
        assert throttle.retry_after_s("a@x.com", "10.0.0.1") is None
        throttle.failed("a@x.com", "10.0.0.1")
        now.s += 1
    assert throttle.retry_after_s("a@x.com", "10.0.0.2") == 57  # any address
    assert throttle.retry_after_s("b@x.com", "10.0.0.2") is None
    now.s += 56.5
    assert throttle.retry_after_s("a@x.com", "10.0.0.2") == 1
    now.s += 0.5
    assert throttle.retry_after_s("a@x.com", "10.0.0.2") is None


def test_an_address_rests_after_many_accounts_fail() -> None:
    now = Now()
    throttle = SignInThrottle(2, window_s=60, now=now)
    for i in range(2 * ADDRESS_FACTOR):
        assert throttle.retry_after_s(f"u{i}@x.com", "10.0.0.1") is None
        throttle.failed(f"u{i}@x.com", "10.0.0.1")
    assert throttle.retry_after_s("new@x.com", "10.0.0.1") == 60
    assert throttle.retry_after_s("new@x.com", "10.0.0.9") is None


def _session(last_seen: int, expires: int, revoked: int | None = None) -> ConsoleSession:
    return ConsoleSession(
        id="s",
        user_id="u",
        created_at_ms=0,
        last_seen_at_ms=last_seen,
        expires_at_ms=expires,
        csrf_secret="c",
        revoked_at_ms=revoked,
    )


def test_session_liveness() -> None:
    assert _session(0, 10_000).is_live(999, idle_ms=1000)
    assert not _session(0, 10_000).is_live(1000, idle_ms=1000)  # idle
    assert not _session(9_500, 10_000).is_live(10_000, idle_ms=1000)  # absolute end
    assert not _session(0, 10_000, revoked=5).is_live(1, idle_ms=1000)


def test_sessions_are_touched_often_enough_for_short_timeouts() -> None:
    session = _session(0, 10**9)
    assert not session.needs_touch(59_999, idle_ms=3_600_000, every_ms=60_000)
    assert session.needs_touch(60_000, idle_ms=3_600_000, every_ms=60_000)
    assert session.needs_touch(250, idle_ms=1000, every_ms=60_000)
    assert not session.needs_touch(249, idle_ms=1000, every_ms=60_000)
