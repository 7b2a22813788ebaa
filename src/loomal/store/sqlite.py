"""Embedded SQLite store: the default, one file in the data dir.

Durability: WAL journal with ``synchronous=FULL``, so every acknowledged commit
is on disk. Concurrency: reads run on a connection of their own in the event
loop thread (a WAL read never waits for a writer and takes microseconds);
every write goes to one writer thread that group-commits (see
``sqlite_writer``) inside ``BEGIN IMMEDIATE`` under a file lock, so
read-modify-write sequences are serialised across threads *and* across
processes sharing the file (``loomal serve --workers N``). ``busy_timeout``
remains as a fallback wait for anything outside that lock.

The statements and the methods are shared with PostgreSQL (``store/sql.py``);
this module keeps the connections, the migrations, the writer and the read
cache.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from loomal.core.ports import CredentialRow
from loomal.store import load_migrations
from loomal.store.oauth_sql import OAUTH_SQLITE
from loomal.store.outbox_sql import OUTBOX_SQLITE
from loomal.store.request_sql import REQUESTS_SQLITE
from loomal.store.row_cache import RowCache
from loomal.store.rules_sql import RULES_SQLITE
from loomal.store.sql import SqlStore
from loomal.store.sqlite_writer import GroupCommitWriter
from loomal.store.statements import SQLITE
from loomal.store.steps import Fetch, FetchAll, Script
from loomal.store.version_sql import VERSIONS_SQLITE
from loomal.store.wal_index import open_wal_index

__all__ = ["SqliteStore", "run_script"]

T = TypeVar("T")

_BUSY_TIMEOUT_MS = 30_000


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    # Deleted rows' pages are zeroed, so a destroyed credential's versions leave the
    # file at the next checkpoint (many builds default to it; not all).
    conn.execute("PRAGMA secure_delete = ON")
    return conn


def _statements(script: str) -> list[str]:
    """A migration's statements, one by one (so that it stays inside the caller's
    transaction, which ``executescript`` would commit): split on the ``;`` that end
    a complete statement, not those inside a trigger's body."""
    statements: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            statements.append(pending)
            pending = ""
    return [s for s in statements if s.strip(" \n;")]


def run_script(conn: sqlite3.Connection, script: Script[T]) -> T:
    """Drive a transaction script on ``conn`` (inside the caller's transaction)."""
    try:
        step = next(script)
        while True:
            cursor = conn.execute(step.sql, step.params)
            if isinstance(step, Fetch):
                step = script.send(cursor.fetchone())
            elif isinstance(step, FetchAll):
                step = script.send(cursor.fetchall())
            else:
                step = script.send(cursor.rowcount)
    except StopIteration as done:
        result: T = done.value
        return result


class SqliteStore(SqlStore):
    """The Store Protocol on one SQLite file."""

    sql = SQLITE
    versions = VERSIONS_SQLITE
    rules = RULES_SQLITE
    outbox = OUTBOX_SQLITE
    requests = REQUESTS_SQLITE
    oauth = OAUTH_SQLITE
    unique_violation = sqlite3.IntegrityError

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        old_umask = os.umask(0o077)  # the file, its WAL and lock are readable by the owner only
        try:
            self._writer = GroupCommitWriter(_connect(path), path.with_name(path.name + ".lock"))
            self._writer.run_locked(self._apply_migrations)
            self._reader = _connect(path)
            self._wal_index = open_wal_index(self._reader, path, self._data_version)
            self._rows = RowCache(
                self._data_version if self._wal_index is None else self._wal_index.header
            )
        finally:
            os.umask(old_umask)

    @classmethod
    async def open(cls, path: Path) -> SqliteStore:
        return await asyncio.to_thread(cls, path)

    async def close(self) -> None:
        await self._write(lambda conn: conn.execute("PRAGMA optimize"))
        self._writer.close()
        if self._wal_index is not None:
            self._wal_index.close()  # while the connection that keeps the mapping is open
        self._reader.close()

    # -- plumbing -------------------------------------------------------------

    @staticmethod
    def _apply_migrations(conn: sqlite3.Connection) -> None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        )
        done = {v for (v,) in conn.execute("SELECT version FROM schema_migrations")}
        for version, sql in load_migrations("sqlite"):
            if version in done:
                continue
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations (version) VALUES (?)", (version,))

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in the next group-committed write transaction."""
        return await self._writer.submit(work)

    def _data_version(self) -> int:
        (version,) = self._reader.execute("PRAGMA data_version").fetchone()
        return int(version)

    async def _fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._reader.execute(sql, params).fetchone()

    async def _fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._reader.execute(sql, params).fetchall()

    async def _run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return await self._write(lambda conn: conn.execute(sql, params).rowcount)

    async def _transact(self, script: Callable[[], Script[T]]) -> T:
        return await self._write(lambda conn: run_script(conn, script()))

    # -- what SQLite does its own way ---------------------------------------------

    async def get_credential(self, *, identity_id: str, name: str) -> CredentialRow | None:
        """From the row cache while the file has not changed (see ``row_cache``)."""

        def read() -> CredentialRow | None:
            row = self._reader.execute(self.sql.get_credential, (identity_id, name)).fetchone()
            return None if row is None else CredentialRow(*row)

        return self._rows.get((identity_id, name), read)

    async def record_last_used(self, *, last_used: Mapping[str, int]) -> None:
        items = [(at, cid, at) for cid, at in last_used.items()]

        def work(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE credentials SET last_used_at = ? WHERE credential_id = ? "
                "AND (last_used_at IS NULL OR last_used_at < ?)",
                items,
            )

        if items:
            await self._write(work)

    async def record_identity_usage(self, *, usage: Mapping[str, tuple[int, int]]) -> None:
        items = [(count, at, identity_id) for identity_id, (count, at) in usage.items()]

        def work(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE identities SET usage_count = usage_count + ?, "
                "last_used_at = max(coalesce(last_used_at, 0), ?) WHERE identity_id = ?",
                items,
            )

        if items:
            await self._write(work)
