"""Abuse limits with an injected clock."""

from __future__ import annotations

import pytest

from loomal.core.limits import FailureThrottle, KeyRateLimiter
from loomal.errors import RateLimitError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failures_from_one_address_are_throttled_for_the_window() -> None:
    clock = Clock()
    throttle = FailureThrottle(limit=3, window=60, clock=clock)
    for _ in range(3):
        throttle.check("10.0.0.1")
        throttle.record_failure("10.0.0.1")
    with pytest.raises(RateLimitError) as info:
        throttle.check("10.0.0.1")
    assert info.value.retry_after == 60
    throttle.check("10.0.0.2")  # another client is unaffected
    clock.now += 45
    with pytest.raises(RateLimitError) as later:
        throttle.check("10.0.0.1")
    assert later.value.retry_after == 15
    clock.now += 15
    throttle.check("10.0.0.1")  # the window is over


def test_zero_limit_disables_the_throttle() -> None:
    throttle = FailureThrottle(limit=0)
    for _ in range(1000):
        throttle.record_failure("x")
    throttle.check("x")


def test_key_bucket_allows_burst_then_refills_at_rate() -> None:
    clock = Clock()
    limiter = KeyRateLimiter(rate=2, burst=4, clock=clock)
    for _ in range(4):
        limiter.take("loid-abc")
    with pytest.raises(RateLimitError) as info:
        limiter.take("loid-abc")
    assert info.value.retry_after == 1
    limiter.take("loid-other")  # buckets are per key
    clock.now += 0.5
    limiter.take("loid-abc")
    with pytest.raises(RateLimitError):
        limiter.take("loid-abc")
