"""Abuse limits, per server process (documented: with N workers or servers, the
effective per-key limit is N times the setting).

- Failed authentications per client address: after ``limit`` failures within
  ``window`` seconds, that address gets 429 (with Retry-After) on every
  authenticated route until the window ends, even with a valid key: guessing
  keys from one address stops, while other clients are unaffected.
- Requests per API key: a token bucket (``rate`` per second, ``burst``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from loomal.errors import RateLimitError

__all__ = ["FailureThrottle", "KeyRateLimiter"]

_MAX_TRACKED = 50_000


class FailureThrottle:
    def __init__(
        self, *, limit: int = 20, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._failures: dict[str, tuple[float, int]] = {}

    def check(self, client: str) -> None:
        if self._limit <= 0:
            return
        entry = self._failures.get(client)
        if entry is None:
            return
        started, count = entry
        remaining = started + self._window - self._clock()
        if remaining <= 0:
            del self._failures[client]
        elif count >= self._limit:
            raise RateLimitError(
                "Too many failed authentications from this address; retry later.",
                retry_after=math.ceil(remaining),
            )

    def record_failure(self, client: str) -> None:
        if self._limit <= 0:
            return
        now = self._clock()
        started, count = self._failures.get(client, (now, 0))
        if started + self._window <= now:
            started, count = now, 0
        if len(self._failures) >= _MAX_TRACKED:
            self._failures.clear()
        self._failures[client] = (started, count + 1)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class KeyRateLimiter:
    def __init__(
        self,
        *,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = rate
        self._burst = burst if burst is not None else max(1.0, rate * 2)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> None:
        if self._rate <= 0:
            return
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= _MAX_TRACKED:
                self._buckets.clear()
            bucket = self._buckets[key] = _Bucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        if bucket.tokens < 1:
            raise RateLimitError(
                "This API key is over its request rate; retry later.",
                retry_after=math.ceil((1 - bucket.tokens) / self._rate),
            )
        bucket.tokens -= 1
