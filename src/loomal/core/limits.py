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

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from loomal.errors import ConflictError, RateLimitError

__all__ = ["FailureThrottle", "KeyRateLimiter", "check_credential_limit", "client_key"]

MAX_TRACKED = 50_000
"""Entries each table holds at most (memory stays bounded: a few MiB)."""


def client_key(client: str) -> str:
    """What the throttle counts failures against: the address itself for IPv4 (and
    anything that is not an IPv6 address), its /64 network for IPv6. One host is
    given a whole /64 (SLAAC, privacy addresses), so counting per address would let
    it take a fresh address, and a fresh budget of failures, at will."""
    if ":" not in client:
        return client
    try:
        address = ipaddress.IPv6Address(client)
    except ValueError:
        return client
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((address, 64), strict=False))


class FailureThrottle:
    """Failed authentications per client (:func:`client_key`) within a window.

    At most ``max_tracked`` clients are tracked. When the table is full, room is
    made by dropping, in this order: windows that are over; the oldest counters
    still below the limit; and only then the client throttled longest (its window
    ends about soonest). A throttled client's count is never reset by others'
    failures while anything else can go (the table used to be cleared whole when
    full, which let a client with many addresses reset its own throttle).
    """

    def __init__(
        self,
        *,
        limit: int = 20,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_tracked: int = MAX_TRACKED,
    ) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._max = max(1, max_tracked)
        self._counting: OrderedDict[str, tuple[float, int]] = OrderedDict()
        """Below the limit: (window start, failures), oldest window first."""
        self._throttled: OrderedDict[str, float] = OrderedDict()
        """At the limit: window start, in the order they reached it."""

    @property
    def tracked(self) -> int:
        """Clients held in memory (not ``__len__``: an empty throttle is still truthy)."""
        return len(self._counting) + len(self._throttled)

    def check(self, client: str) -> None:
        if self._limit <= 0:
            return
        key = client_key(client)
        started = self._throttled.get(key)
        if started is None:
            return
        remaining = started + self._window - self._clock()
        if remaining <= 0:
            del self._throttled[key]
        else:
            raise RateLimitError(
                "Too many failed authentications from this address; retry later.",
                retry_after=math.ceil(remaining),
            )

    def record_failure(self, client: str) -> None:
        if self._limit <= 0:
            return
        key = client_key(client)
        now = self._clock()
        started_at = self._throttled.get(key)
        if started_at is not None:
            if started_at + self._window > now:
                return  # throttled already; its window does not move
            del self._throttled[key]
        entry = self._counting.get(key)
        if entry is None or entry[0] + self._window <= now:
            if entry is not None:
                del self._counting[key]
            self._make_room(now)
            started, count = now, 0
        else:
            started, count = entry
        if count + 1 >= self._limit:
            self._counting.pop(key, None)
            self._throttled[key] = started
        else:
            self._counting[key] = (started, count + 1)  # keeps its place: ordered by start

    def _make_room(self, now: float) -> None:
        """Room for one more entry (see the class docstring)."""
        if self.tracked < self._max:
            return
        horizon = now - self._window
        while self._counting and next(iter(self._counting.values()))[0] <= horizon:
            self._counting.popitem(last=False)
        while self._throttled and next(iter(self._throttled.values())) <= horizon:
            self._throttled.popitem(last=False)
        if self.tracked >= self._max and self._counting:
            self._counting.popitem(last=False)
        if self.tracked >= self._max:
            # Full of throttled clients (as many /64s or addresses as the table holds):
            # the one throttled longest goes (its window ends about soonest).
            self._throttled.popitem(last=False)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class KeyRateLimiter:
    """A token bucket per API key, at most ``max_tracked`` of them, least recently
    used first out. A full table first drops buckets that have refilled (idle long
    enough that a new bucket would hold the same tokens: nothing is forgotten), then
    the least recently used one."""

    def __init__(
        self,
        *,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_tracked: int = MAX_TRACKED,
    ) -> None:
        self._rate = rate
        self._burst = burst if burst is not None else max(1.0, rate * 2)
        self._clock = clock
        self._max = max(1, max_tracked)
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    @property
    def tracked(self) -> int:
        """Keys held in memory."""
        return len(self._buckets)

    def take(self, key: str) -> None:
        if self._rate <= 0:
            return
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            self._make_room(now)
            bucket = self._buckets[key] = _Bucket(self._burst, now)
        else:
            self._buckets.move_to_end(key)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        if bucket.tokens < 1:
            raise RateLimitError(
                "This API key is over its request rate; retry later.",
                retry_after=math.ceil((1 - bucket.tokens) / self._rate),
            )
        bucket.tokens -= 1

    def _make_room(self, now: float) -> None:
        while self._buckets:
            oldest = next(iter(self._buckets.values()))
            refilled = oldest.tokens + (now - oldest.updated) * self._rate >= self._burst
            if not refilled and len(self._buckets) < self._max:
                return
            self._buckets.popitem(last=False)


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
