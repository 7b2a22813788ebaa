"""Write-behind values (lastUsedAt, usage counts): shown at once, written in one
batch, and never lost when a write fails."""

from __future__ import annotations

import pytest

from loomal.core.write_behind import WriteBehind


def add(held: tuple[int, int], noted: tuple[int, int]) -> tuple[int, int]:
    return held[0] + noted[0], max(held[1], noted[1])


async def test_noted_values_merge_show_at_once_and_go_in_one_write() -> None:
    usage: WriteBehind[str, tuple[int, int]] = WriteBehind(add)
    for at in (10, 30, 20):
        usage.note("id_a", (1, at))
    usage.note("id_b", (1, 5))
    assert usage.get("id_a") == (3, 30)
    writes: list[dict[str, tuple[int, int]]] = []

    async def write(batch: dict[str, tuple[int, int]]) -> None:
        writes.append(dict(batch))

    assert await usage.flush(write) == 2
    assert writes == [{"id_a": (3, 30), "id_b": (1, 5)}]
    assert usage.get("id_a") is None and len(usage) == 0
    assert await usage.flush(write) == 0 and len(writes) == 1  # nothing noted: no write


async def test_a_failed_write_keeps_every_value_merged_with_newer_ones() -> None:
    last_used: WriteBehind[str, int] = WriteBehind(max)
    last_used.note("cred_a", 100)

    async def failing(batch: dict[str, int]) -> None:
        last_used.note("cred_a", 150)  # a read while the write runs
        last_used.note("cred_b", 120)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        await last_used.flush(failing)
    assert last_used.get("cred_a") == 150 and last_used.get("cred_b") == 120

    counts: WriteBehind[str, tuple[int, int]] = WriteBehind(add)
    counts.note("id_a", (2, 10))

    async def failing_counts(batch: dict[str, tuple[int, int]]) -> None:
        counts.note("id_a", (1, 20))
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        await counts.flush(failing_counts)
    assert counts.get("id_a") == (3, 20)  # no request counted twice, none lost
