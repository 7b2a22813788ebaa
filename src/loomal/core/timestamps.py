"""Conversions between stored times (integer microseconds, UTC) and the wire
(ISO 8601 UTC with ``Z``, whole seconds, as in the seed's examples)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from loomal.errors import ValidationError

__all__ = ["from_micros", "parse_iso8601", "to_micros"]


def to_micros(seconds: float) -> int:
    return int(seconds * 1_000_000)


def from_micros(micros: int) -> datetime:
    return _at_second(micros // 1_000_000)


@functools.lru_cache(maxsize=8192)
def _at_second(second: int) -> datetime:
    """Wire times are whole seconds, and a response's times repeat (its credential's
    createdAt, this second's lastUsedAt, the TOTP period's end): building a datetime
    costs ~10 times a cache hit on the hot read path. Datetimes are immutable."""
    return datetime.fromtimestamp(second, tz=UTC)


def parse_iso8601(value: str, *, field: str) -> int:
    """Parse an ISO 8601 date or date-time; one without a zone is taken as UTC."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        raise ValidationError(
            f"{field} must be an ISO 8601 date-time, e.g. 2027-01-31T00:00:00Z."
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1_000_000)
