"""Failed authentications are limited per address; successes draw nothing."""

from __future__ import annotations

from hookline.services.auth_throttle import AuthThrottle


def test_an_address_may_fail_twenty_times_a_minute() -> None:
    throttle = AuthThrottle(failures=20, window_s=60)
    for _ in range(20):
        assert throttle.retry_in_s("10.0.0.1", 0) is None
        throttle.failed("10.0.0.1", 0)
    assert throttle.retry_in_s("10.0.0.1", 0) == 3
    assert throttle.retry_in_s("10.0.0.2", 0) is None  # another address is not held back
    assert throttle.retry_in_s("10.0.0.1", 2_999) == 1
    assert throttle.retry_in_s("10.0.0.1", 3_000) is None  # one failure's worth came back
    throttle.failed("10.0.0.1", 3_000)
    assert throttle.retry_in_s("10.0.0.1", 3_000) == 3
    assert throttle.retry_in_s("10.0.0.1", 60_000 + 3_000) is None
