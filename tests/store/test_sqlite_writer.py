"""Group commit: many writes share one durable commit; one failing write fails alone."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from loomal.store.sqlite_writer import GroupCommitWriter


def open_writer(tmp_path: Path) -> tuple[GroupCommitWriter, list[str]]:
    conn = sqlite3.connect(tmp_path / "t.db", isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    writer = GroupCommitWriter(conn, tmp_path / "t.lock")
    writer.run_locked(lambda c: c.execute("CREATE TABLE t (n INTEGER PRIMARY KEY)"))
    return writer, statements


async def test_concurrent_writes_share_commits_and_failures_stay_alone(tmp_path: Path) -> None:
    writer, statements = open_writer(tmp_path)

    def insert(n: int) -> Callable[[sqlite3.Connection], int]:
        def work(conn: sqlite3.Connection) -> int:
            conn.execute("INSERT INTO t VALUES (?)", (n,))
            if n % 10 == 3:
                raise ValueError(f"write {n} refused")
            return n

        return work

    results = await asyncio.gather(
        *(writer.submit(insert(n)) for n in range(200)), return_exceptions=True
    )
    writer.close()
    failed = {n for n, r in enumerate(results) if isinstance(r, ValueError)}
    assert failed == {n for n in range(200) if n % 10 == 3}
    assert all(results[n] == n for n in range(200) if n not in failed)
    commits = sum(1 for s in statements if s == "COMMIT")
    assert 2 <= commits < 50  # batched (the first write commits alone, the rest pile up)
    stored = {n for (n,) in sqlite3.connect(tmp_path / "t.db").execute("SELECT n FROM t")}
    assert stored == set(range(200)) - failed


async def test_cancelled_before_running_is_not_written(tmp_path: Path) -> None:
    writer, _ = open_writer(tmp_path)
    gate = asyncio.Event()
    loop = asyncio.get_running_loop()

    running = threading.Event()

    def slow(conn: sqlite3.Connection) -> None:
        running.set()
        asyncio.run_coroutine_threadsafe(gate.wait(), loop).result(5)

    first = asyncio.create_task(writer.submit(slow))
    await asyncio.to_thread(running.wait, 5)  # the writer is inside the first batch
    second = asyncio.create_task(writer.submit(lambda c: c.execute("INSERT INTO t VALUES (1)")))
    await asyncio.sleep(0)  # the task runs up to its wait: the work is queued
    second.cancel()
    gate.set()
    await first
    with pytest.raises(asyncio.CancelledError):
        await second
    await writer.submit(lambda c: None)
    writer.close()
    assert sqlite3.connect(tmp_path / "t.db").execute("SELECT count(*) FROM t").fetchone() == (0,)


async def test_writes_queued_while_another_process_commits_join_one_commit(
    tmp_path: Path,
) -> None:
    """Another process holding the lock (here: a lock of our own on the same file)
    makes the writer wait with its first write taken; all written meanwhile must
    go in the commit that follows, not one commit each."""
    import fcntl

    writer, statements = open_writer(tmp_path)
    del statements[:]  # the table's creation
    other = open(tmp_path / "t.lock", "a+b")  # noqa: SIM115 - released below
    fcntl.flock(other.fileno(), fcntl.LOCK_EX)
    ran = threading.Event()

    def first(conn: sqlite3.Connection) -> None:
        ran.set()
        conn.execute("INSERT INTO t VALUES (0)")

    def insert(n: int) -> Callable[[sqlite3.Connection], None]:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO t VALUES (?)", (n,))

        return work

    writes = [asyncio.ensure_future(writer.submit(first))]
    for _ in range(50):  # the writer thread takes `first`, then waits for the lock
        await asyncio.sleep(0)
    writes += [asyncio.ensure_future(writer.submit(insert(n))) for n in range(1, 40)]
    await asyncio.sleep(0)
    assert not ran.is_set()  # nothing written while the other holds the lock
    fcntl.flock(other.fileno(), fcntl.LOCK_UN)
    other.close()
    await asyncio.gather(*writes)
    writer.close()

    assert sum(1 for s in statements if s == "COMMIT") == 1
    stored = sqlite3.connect(tmp_path / "t.db").execute("SELECT count(*) FROM t").fetchone()
    assert stored == (40,)
