"""Group commit for SQLite: many writes, one durable commit.

A durable commit (``synchronous=FULL``) costs an fsync; a write path that pays
one per request is capped by the disk, not by the work. One writer thread per
process takes every queued write, runs them in one ``BEGIN IMMEDIATE``
transaction, each inside its own savepoint (a write that fails rolls back
alone and gets its own exception), commits once, and only then answers each
caller. No caller is acknowledged before its write is on disk.

Across processes (``--workers N``, or the ``loomal identity`` CLI beside a
server) a write transaction is entered under an exclusive ``flock`` on a lock
file next to the database: a waiting process sleeps in the kernel and wakes as
soon as the lock is free, instead of SQLite's busy handler polling with
growing sleeps (which gave a p99 over a second under contention).
"""

from __future__ import annotations

import asyncio
import fcntl
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["GroupCommitWriter"]

T = TypeVar("T")
Work = Callable[[sqlite3.Connection], Any]

MAX_BATCH = 256
_STOP = object()


class GroupCommitWriter:
    def __init__(self, conn: sqlite3.Connection, lock_path: Path) -> None:
        self._conn = conn
        self._lock_file = open(lock_path, "a+b")  # noqa: SIM115 - held for the writer's life
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="loomal-sqlite-writer", daemon=True)

    async def submit(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` inside the next group transaction; return once it is durable."""
        if not self._thread.is_alive():
            self._thread.start()
        future: Future[T] = Future()
        self._queue.put((work, future))
        return await asyncio.wrap_future(future)

    def run_locked(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in one transaction now, on the calling thread. Start-up only
        (migrations), before the writer thread exists: the two must never share the lock."""
        if self._thread.is_alive():
            raise RuntimeError("run_locked is for start-up, before the first submit")
        with self._process_lock():
            (outcome,) = self._transaction([work])
        if isinstance(outcome, _Failed):
            raise outcome.error
        result: T = outcome
        return result

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        self._lock_file.close()

    # -- the writer thread ----------------------------------------------------

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is _STOP:
                return
            stop = self._commit([first])

    def _commit(self, batch: list[tuple[Work, Future[Any]]]) -> bool:
        """Commit ``batch`` with whatever else is queued once this process holds the
        lock: writes that arrived while another process was committing join this
        commit instead of waiting for the next one (each commit costs an fsync
        under the lock every worker shares). Whether the writer was asked to stop."""
        stop = False
        live: list[tuple[Work, Future[Any]]] | None = None
        try:
            with self._process_lock():
                stop = self._take_queued(batch)
                live = [(work, fut) for work, fut in batch if fut.set_running_or_notify_cancel()]
                outcomes = self._transaction([work for work, _ in live]) if live else []
        except BaseException as exc:  # the commit itself failed: nobody's write is durable
            if live is None:
                live = [(work, fut) for work, fut in batch if fut.set_running_or_notify_cancel()]
            for _, future in live:
                future.set_exception(exc)
            return stop
        for (_, future), outcome in zip(live, outcomes, strict=True):
            if isinstance(outcome, _Failed):
                future.set_exception(outcome.error)
            else:
                future.set_result(outcome)
        return stop

    def _take_queued(self, batch: list[tuple[Work, Future[Any]]]) -> bool:
        """Move queued writes into ``batch`` (up to MAX_BATCH); whether the stop
        sign was among them (what was queued before it is still committed)."""
        while len(batch) < MAX_BATCH:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return False
            if item is _STOP:
                return True
            batch.append(item)
        return False

    def _transaction(self, works: list[Work]) -> list[Any]:
        """Each work in its own savepoint, one commit; a failed work yields ``_Failed``."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        outcomes: list[Any] = []
        try:
            for work in works:
                conn.execute("SAVEPOINT write")
                try:
                    outcomes.append(work(conn))
                except Exception as exc:
                    conn.execute("ROLLBACK TO write")
                    outcomes.append(_Failed(exc))
                conn.execute("RELEASE write")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return outcomes

    def _process_lock(self) -> _FileLock:
        return _FileLock(self._lock_file.fileno())


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _FileLock:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    def __enter__(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
