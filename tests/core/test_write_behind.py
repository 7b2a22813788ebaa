"""Write-behind values (lastUsedAt, usage counts, refusal aggregates): shown at once,
written in one batch, aggregates once their window is over, and never lost when a
write fails."""

from __future__ import annotations

import pytest

from loomal.core.write_behind import WriteBehind


def add(held: tuple[int, int], noted: tuple[int, int]) -> tuple[int, int]:
    return held[0] + noted[0], max(held[1], noted[1])


async def test_noted_values_merge_show_at_once_and_go_in_one_write() -> None:
    writes: list[dict[str, tuple[int, int]]] = []

    async def write(batch: dict[str, tuple[int, int]]) -> None:
        writes.append(dict(batch))

    usage: WriteBehind[str, tuple[int, int]] = WriteBehind(add, write)
    for at in (10, 30, 20):
        usage.note("id_a", (1, at))
    usage.note("id_b", (1, 5))
    assert usage.get("id_a") == (3, 30)
    assert await usage.flush() == 2
    assert writes == [{"id_a": (3, 30), "id_b": (1, 5)}]
    assert usage.get("id_a") is None and len(usage) == 0
    assert await usage.flush() == 0 and len(writes) == 1  # nothing noted: no write


async def test_a_failed_write_keeps_every_value_merged_with_newer_ones() -> None:
    async def failing(batch: dict[str, int]) -> None:
        last_used.note("cred_a", 150)  # a read while the write runs
        last_used.note("cred_b", 120)
        raise OSError("disk full")

    last_used: WriteBehind[str, int] = WriteBehind(max, failing)
    last_used.note("cred_a", 100)
    with pytest.raises(OSError, match="disk full"):
        await last_used.flush()
    assert last_used.get("cred_a") == 150 and last_used.get("cred_b") == 120

    async def failing_counts(batch: dict[str, tuple[int, int]]) -> None:
        counts.note("id_a", (1, 20))
        raise OSError("disk full")

    counts: WriteBehind[str, tuple[int, int]] = WriteBehind(add, failing_counts)
    counts.note("id_a", (2, 10))
    with pytest.raises(OSError, match="disk full"):
        await counts.flush()
    assert counts.get("id_a") == (3, 20)  # no request counted twice, none lost


async def test_an_aggregate_is_written_when_its_window_is_over_or_at_the_end() -> None:
    now = [100]
    written: list[dict[str, tuple[int, int]]] = []

    async def write(batch: dict[str, tuple[int, int]]) -> None:
        written.append(dict(batch))

    refusals: WriteBehind[str, tuple[int, int]] = WriteBehind(
        lambda a, b: (min(a[0], b[0]), a[1] + b[1]), write, due=lambda v: v[0] <= now[0] - 60
    )
    refusals.note("10.0.0.1", (100, 1))
    refusals.note("10.0.0.1", (130, 1))
    refusals.note("10.0.0.2", (150, 1))
    assert await refusals.flush() == 0  # both windows still open
    now[0] = 160
    assert await refusals.flush() == 1
    assert written == [{"10.0.0.1": (100, 2)}]
    assert await refusals.flush(final=True) == 1  # a clean stop writes what is left
    assert written[-1] == {"10.0.0.2": (150, 1)} and len(refusals) == 0
