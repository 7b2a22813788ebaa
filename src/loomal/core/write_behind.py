"""Values noted in memory on the request path and written in one batch later.

Why: a credential's ``lastUsedAt`` and an identity's usage count change on every
authenticated read; a durable commit per read would cap reads at the disk's
fsync rate. So a read notes the value here, this process shows it at once
(:meth:`WriteBehind.get`), and :meth:`WriteBehind.flush` writes everything
noted in one batch. The same type holds every such value: last use, usage
counts, refused-authentication counts, key wraps, and the copies of refusals in
an owner's audit log. Each buffer knows how to write itself; ``runtime.RunningVault``
owns the list of them and is the one that flushes (at least every
``usage_flush_seconds``, and everything on a clean stop). Other processes see
the values after that flush.

Aggregates (refusal counts) are written once their window ends: ``due`` says
which values are ready; ``flush(final=True)`` writes every value regardless.

A failed write loses nothing: the values go back, merged with whatever was
noted while the write ran, and the next flush retries them.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, Protocol, TypeVar

__all__ = ["Flushable", "WriteBehind"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Flushable(Protocol):
    """What the runtime flushes: a write-behind, or the audit log's batch."""

    async def flush(self, *, final: bool = False) -> int: ...


class WriteBehind(Generic[K, V]):
    def __init__(
        self,
        merge: Callable[[V, V], V],
        write: Callable[[dict[K, V]], Awaitable[object]],
        *,
        due: Callable[[V], bool] | None = None,
    ) -> None:
        """``merge(held, noted)``: one value standing for both (the later time, the
        sum of counts). It must not care about order: a failed write's values are
        merged back after newer ones. ``write`` stores a batch; ``due`` (aggregates)
        says whether a value's window is over."""
        self._merge = merge
        self._write = write
        self._due = due
        self._held: dict[K, V] = {}
        self._lock = threading.Lock()  # key wraps are noted on the store's writer thread

    def note(self, key: K, value: V) -> None:
        with self._lock:
            held = self._held.get(key)
            self._held[key] = value if held is None else self._merge(held, value)

    def get(self, key: K) -> V | None:
        """What is noted for ``key`` and not yet written."""
        return self._held.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._held

    def __len__(self) -> int:
        return len(self._held)

    async def flush(self, *, final: bool = False, only: Callable[[K], bool] | None = None) -> int:
        """Write what is noted (only what is due, for an aggregate, unless ``final``;
        only the keys ``only`` accepts, if given) in one call; returns how many keys."""
        with self._lock:
            if (self._due is None or final) and only is None:
                taken, self._held = self._held, {}
            else:
                due = None if final else self._due
                taken = {
                    k: v
                    for k, v in self._held.items()
                    if (due is None or due(v)) and (only is None or only(k))
                }
                for key in taken:
                    del self._held[key]
        if not taken:
            return 0
        try:
            await self._write(taken)
        except BaseException:
            for key, value in taken.items():
                self.note(key, value)
            raise
        return len(taken)
