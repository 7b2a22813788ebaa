"""The steps of a transaction script (see ``store/sql.py``): a script is a
generator that yields these and receives each one's answer, so that a
read-modify-write is written once and each database runs it in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["Fetch", "FetchAll", "Run", "Script", "SqlPrimitives"]

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


class SqlPrimitives:
    """The four primitives every SQL-bearing class runs its statements on, declared
    once: ``SqlStore`` and its mixins (platform, versions, rules, OAuth) inherit
    this, and ``SqliteStore`` / ``PostgresStore`` implement it."""

    async def _fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The statement's first row, or None."""
        raise NotImplementedError

    async def _fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Every row of the statement."""
        raise NotImplementedError

    async def _run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One write statement in a transaction of its own; its row count."""
        raise NotImplementedError

    async def _transact(self, script: Callable[[], Script[T]]) -> T:
        """Run a fresh ``script()`` in one write transaction; its return value."""
        raise NotImplementedError
