"""The steps of a transaction script (see ``store/sql.py``): a script is a
generator that yields these and receives each one's answer, so that a
read-modify-write is written once and each database runs it in one transaction."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["Fetch", "FetchAll", "Run", "Script"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Fetch:
    """Answered with the statement's first row (or None)."""

    sql: str
    params: Sequence[Any] = ()


@dataclass(frozen=True, slots=True)
class FetchAll:
    """Answered with every row of the statement."""

    sql: str
    params: Sequence[Any] = ()


@dataclass(frozen=True, slots=True)
class Run:
    """Answered with the statement's row count."""

    sql: str
    params: Sequence[Any] = ()


Script = Generator[Fetch | FetchAll | Run, Any, T]
