"""Conversions between stored times (integer microseconds, UTC) and the wire
(ISO 8601 UTC with ``Z``, whole seconds, as in the seed's examples).

The wire accepts times from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z (after
conversion to UTC): what every client can represent. Reading is total: a
stored time outside that range (a hand-edited or damaged row) is shown clamped
to its nearest end rather than failing the whole answer.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime

from loomal.errors import ValidationError

__all__ = [
    "MAX_MICROS",
    "MIN_MICROS",
    "from_micros",
    "parse_iso8601",
    "parse_time_bound",
    "to_micros",
]

MIN_MICROS = 0
MAX_MICROS = 253_402_300_799_000_000
"""9999-12-31T23:59:59Z, the last second every client's date type can hold."""


def to_micros(seconds: float) -> int:
    return int(seconds * 1_000_000)


def from_micros(micros: int) -> datetime:
    return _at_second(min(max(micros, MIN_MICROS), MAX_MICROS) // 1_000_000)


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
    try:  # an offset can carry a date past year 1 or 9999 once converted to UTC
        micros = int(parsed.timestamp() * 1_000_000)
    except (OverflowError, ValueError):
        micros = -1
    if not MIN_MICROS <= micros <= MAX_MICROS:
        raise ValidationError(
            f"{field} must lie between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z."
        )
    return micros


_AGO = re.compile(r"([0-9]{1,9})\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_time_bound(value: str, *, field: str, now: float) -> datetime:
    """A filter's time: ISO 8601 (a zone-less one is UTC), or how long before ``now``
    (``90s``, ``30m``, ``2h``, ``7d``, ``2w``)."""
    ago = _AGO.fullmatch(value.strip().lower())
    if ago is not None:
        seconds = int(ago.group(1)) * _UNITS[ago.group(2)]
        return datetime.fromtimestamp(max(now - seconds, 0), tz=UTC)
    try:
        micros = parse_iso8601(value, field=field)
    except ValidationError:
        raise ValidationError(
            f"{field} must be an ISO 8601 time (2026-12-01T09:00:00Z) or how long ago "
            "(90s, 30m, 2h, 7d, 2w)."
        ) from None
    return datetime.fromtimestamp(micros / 1_000_000, tz=UTC)
