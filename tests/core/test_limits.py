"""Abuse limits with an injected clock."""

from __future__ import annotations

import pytest

from loomal.core.limits import FailureThrottle, KeyRateLimiter, client_key
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


def test_a_full_table_does_not_reset_a_throttled_address() -> None:
    """Failures from as many other addresses as the table holds used to clear it
    whole, giving the throttled address a fresh budget."""
    clock = Clock()
    throttle = FailureThrottle(limit=3, window=60, clock=clock, max_tracked=100)
    for _ in range(3):
        throttle.record_failure("10.0.0.1")
    for i in range(1000):  # ten times the table's size, each a new address
        clock.now += 0.01
        throttle.record_failure(f"10.1.{i // 250}.{i % 250}")
        assert throttle.tracked <= 100  # memory stays bounded
    with pytest.raises(RateLimitError):
        throttle.check("10.0.0.1")


def test_a_full_table_drops_finished_windows_then_the_oldest_counters() -> None:
    clock = Clock()
    throttle = FailureThrottle(limit=3, window=60, clock=clock, max_tracked=4)
    throttle.record_failure("10.0.0.1")
    throttle.record_failure("10.0.0.1")  # two of three: not throttled yet
    clock.now += 30
    for address in ("10.0.0.2", "10.0.0.3", "10.0.0.4"):
        throttle.record_failure(address)
    clock.now += 31  # the first window is over, the others are not
    throttle.record_failure("10.0.0.5")
    assert throttle.tracked == 4
    for _ in range(2):
        throttle.record_failure("10.0.0.2")  # throttled now
    for i in range(10):  # new addresses push out counters below the limit, never 10.0.0.2
        throttle.record_failure(f"10.9.0.{i}")
        assert throttle.tracked <= 4
    with pytest.raises(RateLimitError):
        throttle.check("10.0.0.2")


def test_a_table_full_of_throttled_clients_stays_bounded() -> None:
    clock = Clock()
    throttle = FailureThrottle(limit=1, window=60, clock=clock, max_tracked=10)
    for i in range(50):
        clock.now += 0.1
        throttle.record_failure(f"10.0.0.{i}")
    assert throttle.tracked == 10
    with pytest.raises(RateLimitError):
        throttle.check("10.0.0.49")  # the newest are kept; the longest throttled went


def test_ipv6_clients_are_counted_per_64() -> None:
    throttle = FailureThrottle(limit=3, window=60, clock=Clock())
    for host in ("2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff:1:2:3"):
        throttle.record_failure(host)
    with pytest.raises(RateLimitError):
        throttle.check("2001:db8:1:2:abcd::9")  # any address of that /64
    throttle.check("2001:db8:1:3::1")  # the next /64 is another client
    throttle.check("10.0.0.1")


def test_client_keys() -> None:
    assert client_key("192.0.2.7") == "192.0.2.7"
    assert client_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"  # an IPv4 client on a dual stack
    assert client_key("") == ""
    assert client_key("not:an:address") == "not:an:address"


def test_key_buckets_are_bounded_and_drop_refilled_ones_first() -> None:
    clock = Clock()
    limiter = KeyRateLimiter(rate=1, burst=2, clock=clock, max_tracked=3)
    limiter.take("busy")
    limiter.take("busy")  # empty now
    for key in ("a", "b"):
        limiter.take(key)
    clock.now += 1.5  # a and b refilled; busy has 1.5 tokens, not 2
    limiter.take("busy")  # most recently used now
    for key in ("c", "d"):  # the table is full: a and b go (nothing is lost), not busy
        limiter.take(key)
        assert limiter.tracked <= 3
    with pytest.raises(RateLimitError):
        limiter.take("busy")  # its count survived (0.5 tokens left)
    for key in ("e", "f", "g", "h"):
        limiter.take(key)
        assert limiter.tracked <= 3  # bounded when nothing refilled either: LRU goes
