"""Abuse limits, per server process (documented: with N workers or servers, the
effective per-key limit is N times the setting).

- Failed authentications per client address: after ``limit`` failures within
  ``window`` seconds, every further request from that address *without a
  valid key* gets 429 (with Retry-After) instead of 401 until the window ends.
  A valid key is always served: on loopback every local agent shares
  127.0.0.1, and one misconfigured process must not lock the others out. The
  key is checked before the throttle, so a guess made while throttled that
  happens to be right is served; with keys of at least 192 random bits that
  costs nothing (docs/security.md), while the answer to a wrong guess stays the
  same 429 whatever key was sent.
- Requests per API key: a token bucket (``rate`` per second, ``burst``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from loomal.errors import ConflictError, RateLimitError

__all__ = ["FailureThrottle", "KeyRateLimiter", "check_credential_limit"]

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


def check_credential_limit(count: int, limit: int | None) -> None:
    """Refuse a new credential when the identity already holds ``limit``.

    Stores call it inside the write transaction that inserts the row, holding
    what serialises creates of one identity, so parallel creates cannot all
    read the same count and pass together.
    """
    if limit is not None and count >= limit:
        raise ConflictError(
            f"This identity already holds {count} credentials, the limit.",
            code="credential_limit",
        )
