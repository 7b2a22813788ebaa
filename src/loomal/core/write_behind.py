"""Values noted in memory on the request path and written in one batch later.

Why: a credential's ``lastUsedAt`` and an identity's usage count change on every
authenticated read; a durable commit per read would cap reads at the disk's
fsync rate. So a read notes the value here, this process shows it at once
(:meth:`WriteBehind.get`), and :meth:`WriteBehind.flush` writes everything
noted in one batch: at least every ``usage_flush_seconds`` (the maintenance
loop) and on a clean stop. Other processes see the values after that flush.

A failed write loses nothing: the values go back, merged with whatever was
noted while the write ran, and the next flush retries them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["WriteBehind"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class WriteBehind(Generic[K, V]):
    def __init__(self, merge: Callable[[V, V], V]) -> None:
        """``merge(held, noted)``: one value standing for both (the later time, the
        sum of counts). It must not care about order: a failed write's values are
        merged back after newer ones."""
        self._merge = merge
        self._held: dict[K, V] = {}

    def note(self, key: K, value: V) -> None:
        held = self._held.get(key)
        self._held[key] = value if held is None else self._merge(held, value)

    def get(self, key: K) -> V | None:
        """What is noted for ``key`` and not yet written."""
        return self._held.get(key)

    def __len__(self) -> int:
        return len(self._held)

    async def flush(self, write: Callable[[dict[K, V]], Awaitable[object]]) -> int:
        """Hand everything noted to ``write`` in one call; returns how many keys."""
        if not self._held:
            return 0
        taken, self._held = self._held, {}
        try:
            await write(taken)
        except BaseException:
            for key, value in taken.items():
                self.note(key, value)
            raise
        return len(taken)
