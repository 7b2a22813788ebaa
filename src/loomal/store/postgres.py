"""PostgreSQL store: for several stateless servers sharing one database.

psycopg 3, async, pooled (statements are prepared by psycopg after a few uses).
A credential write is one round trip: migration 0018's function runs the shared
write script's steps inside PostgreSQL, holding the row lock only there (see
``modify_credential``); the shared script (``store/sql.py``: ``SELECT ... FOR
UPDATE`` in a transaction, one round trip per statement) remains the fallback
under heavy contention and runs every other read-modify-write. Batches (audit
events, lastUsedAt, usage counts, key wraps) are one statement of arrays each.
Migrations run under a transaction-scoped advisory lock, so servers starting at
once apply each migration exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool

from loomal.core.limits import check_credential_limit
from loomal.core.rows import AuditEvent, CredentialRow
from loomal.core.version_store import DeletionNote, VersionNote
from loomal.errors import NotFoundError, ServerError
from loomal.store import AUDIT_COLUMNS, credential_values, load_migrations
from loomal.store.oauth_sql import OAUTH_POSTGRES
from loomal.store.outbox_sql import OUTBOX_POSTGRES
from loomal.store.request_sql import REQUESTS_POSTGRES
from loomal.store.rules_sql import RULES_POSTGRES
from loomal.store.sql import SqlStore
from loomal.store.statements import POSTGRES
from loomal.store.steps import Fetch, FetchAll, Script
from loomal.store.version_sql import VERSIONS_POSTGRES, _gone

__all__ = ["PostgresStore"]

T = TypeVar("T")

_MIGRATION_LOCK = 0x6C6F6F6D616C  # "loomal"

_AUDIT_ARRAY_TYPES = (
    "bigint", "text", "text", "text", "text", "text", "text", "text", "text", "bigint",
    "text", "text",
)  # fmt: skip
_INSERT_AUDIT_ARRAYS = (
    f"INSERT INTO audit_events ({AUDIT_COLUMNS}) SELECT {AUDIT_COLUMNS} FROM unnest("
    + ", ".join(f"%s::{t}[]" for t in _AUDIT_ARRAY_TYPES)
    + f") WITH ORDINALITY AS e ({AUDIT_COLUMNS}, n) ORDER BY n"
)
"""Events in the order given (``event_id`` and each log's ``seq`` follow it)."""

_WRITE_TYPES = (
    "text", "text", "text", "bigint",  # the row the change was computed from
    *("text", "text", "text", "bytea", "bigint", "bigint", "bigint", "bigint", "bigint",
      "bigint", "text", "text", "bytea", "bytea", "bytea"),  # the new row (CREDENTIAL_COLUMNS)
    "bigint",  # the credential limit
    "bigint", "text", "bigint", "text", "text",  # the version note
    *_AUDIT_ARRAY_TYPES,  # the audit event
)  # fmt: skip
_WRITE = (
    "SELECT * FROM loomal_write_credential(" + ", ".join(f"%s::{t}" for t in _WRITE_TYPES) + ")"
)
"""Migration 0018's function: the whole write script in one statement."""
_NO_VERSION: tuple[None, ...] = (None,) * 5
_NO_AUDIT: tuple[None, ...] = (None,) * len(_AUDIT_ARRAY_TYPES)
_LOST_CREATE_RACE = "LV001"
_WRITE_ATTEMPTS = 3
"""Writes computed from a row that turned out stale before the shared locking
script is used instead (it cannot be stale: it reads the row under its lock)."""
_SEEN_BYTES = 16 << 20
"""Memory the remembered rows may take per process (rows as written: ciphertext,
never plaintext)."""
_ROW_OVERHEAD = 700
"""What a remembered row costs beyond its variable bytes: the row object, its
ids and names, its key and its slot in the dict (measured with tracemalloc on
CPython 3.11: about 800 bytes for a row whose variable bytes are 130;
``tests/store/test_postgres_writes.py`` keeps the two close). Counting
only the variable bytes let a worker that read a million credentials at random
keep five times the memory ``_SEEN_BYTES`` says."""


def _size(row: CredentialRow) -> int:
    return _ROW_OVERHEAD + len(row.ciphertext) + len(row.metadata_json) + len(row.wrapped_key)


def _version_args(note: VersionNote) -> tuple[Any, ...]:
    return (note.keep, note.revives, note.written_at, note.written_by, note.kind)


def _where(url: str) -> str:
    """host:port of a database URL, never its password."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"


class PostgresStore(SqlStore):
    """The Store Protocol on PostgreSQL."""

    sql = POSTGRES
    versions = VERSIONS_POSTGRES
    rules = RULES_POSTGRES
    outbox = OUTBOX_POSTGRES
    requests = REQUESTS_POSTGRES
    oauth = OAUTH_POSTGRES
    unique_violation = pg_errors.UniqueViolation

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool
        self._seen: dict[tuple[str, str], CredentialRow] = {}
        self._seen_bytes = 0
        """The row this process last read or wrote under each (identity, name): the
        guess a write's change is computed from. Never trusted for an answer: the
        write function checks it under the row lock (see ``modify_credential``)."""

    @classmethod
    async def open(
        cls, url: str, *, max_connections: int = 10, create: bool = True
    ) -> PostgresStore:
        """Connect and migrate; without ``create``, refuse a database that holds no
        Loomal store yet (NotFoundError, reason ``no_store``) and change nothing."""
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            open=False,
            kwargs={"autocommit": True},
            name="loomal",
        )
        try:
            await pool.open(wait=True, timeout=15)
        except Exception as exc:
            await pool.close()
            raise ServerError(
                f"Could not connect to PostgreSQL at {_where(url)} ({type(exc).__name__})."
            ) from None
        store = cls(pool)
        try:
            if not create and not await store._exists():
                raise NotFoundError(
                    f"No vault store in the PostgreSQL database at {_where(url)} (no Loomal "
                    "tables on its search_path). Check --database-url (LOOMAL_DATABASE_URL); "
                    "only `loomal serve` creates a store.",
                    reason="no_store",
                )
            await store._apply_migrations()
        except BaseException:
            await pool.close()
            raise
        return store

    async def _exists(self) -> bool:
        row = await self._fetch_one("SELECT to_regclass('schema_migrations') IS NOT NULL")
        return bool(row[0])

    async def close(self) -> None:
        await self._pool.close()

    async def _apply_migrations(self) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            cur = await conn.execute("SELECT version FROM schema_migrations")
            done = {v for (v,) in await cur.fetchall()}
            for version, sql in load_migrations("postgres"):
                if version in done:
                    continue
                await conn.execute(sql.encode())
                await conn.execute(
                    "INSERT INTO schema_migrations (version) VALUES (%s)", (version,)
                )

    # -- the four primitives of store/sql.py ---------------------------------------

    async def _fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        async with self._pool.connection() as conn:
            cur = await conn.execute(sql.encode(), params)
            return await cur.fetchone()

    async def _fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(sql.encode(), params)
            rows: list[Any] = await cur.fetchall()
            return rows

    async def _run(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._pool.connection() as conn:
            cur = await conn.execute(sql.encode(), params)
            count: int = cur.rowcount
            return count

    async def _transact(self, script: Callable[[], Script[T]]) -> T:
        steps = script()
        async with self._pool.connection() as conn, conn.transaction():
            try:
                step = next(steps)
                while True:
                    cur = await conn.execute(step.sql.encode(), step.params)
                    answer: Any = cur.rowcount
                    if isinstance(step, Fetch):
                        answer = await cur.fetchone()
                    elif isinstance(step, FetchAll):
                        answer = await cur.fetchall()
                    step = steps.send(answer)
            except StopIteration as done:
                result: T = done.value
                return result

    # -- credential writes: one round trip -----------------------------------------

    async def get_credential(self, *, identity_id: str, name: str) -> CredentialRow | None:
        """The row, read (never from memory: another server may have replaced it),
        and remembered as the next write's guess."""
        found = await self._fetch_one(self.sql.get_credential, (identity_id, name))
        row = None if found is None else CredentialRow(*found)
        self._remember((identity_id, name), row)
        return row

    def _remember(self, key: tuple[str, str], row: CredentialRow | None) -> None:
        """Keep ``row`` as the guess for ``key``; everything is forgotten at once
        when the guesses reach ``_SEEN_BYTES`` (a forgotten guess costs a write
        one more round trip, nothing else)."""
        before = self._seen.pop(key, None)
        if before is not None:
            self._seen_bytes -= _size(before)
        if row is None:
            return
        if self._seen_bytes + _size(row) > _SEEN_BYTES:
            self._seen.clear()
            self._seen_bytes = 0
        self._seen[key] = row
        self._seen_bytes += _size(row)

    async def modify_credential(
        self,
        *,
        identity_id: str,
        name: str,
        change: Callable[[CredentialRow | None], tuple[CredentialRow, T]],
        audit: AuditEvent | None = None,
        max_credentials: int | None = None,
        version_note: VersionNote | None = None,
    ) -> T:
        """:meth:`loomal.core.ports.CredentialStore.modify_credential`, in one round trip.

        The shared write script waits for a round trip per statement (BEGIN, the
        locking SELECT, the version, the prune, the row, the audit event, COMMIT:
        seven). Here the row ``change`` first sees is the one this process last
        saw (none if it saw none: a create is one round trip too), and one call of
        ``loomal_write_credential`` (migration 0018) checks it under the row lock;
        when it is stale the answer carries the current row. A change that refuses
        a row that may be stale is retried on a fresh read before its error
        stands. After a few stale answers (a row written by many servers at once)
        the locking script runs instead, so every write finishes.
        """
        key = (identity_id, name)
        existing = self._seen.get(key)  # a guess; unseen: guessed absent (a create)
        fresh = False
        version = _NO_VERSION if version_note is None else _version_args(version_note)
        audit_values = _NO_AUDIT if audit is None else audit.values()
        for _ in range(_WRITE_ATTEMPTS):
            try:
                new, result = change(existing)
            except Exception:
                if fresh:
                    raise
                existing = await self.get_credential(identity_id=identity_id, name=name)
                fresh = True
                continue
            expected = (
                (None, None) if existing is None else (existing.credential_id, existing.version)
            )
            params = (
                identity_id, name, *expected, *credential_values(new),
                max_credentials, *version, *audit_values,
            )  # fmt: skip
            try:
                answer = await self._fetch_one(_WRITE, params)
            except pg_errors.DatabaseError as exc:
                if exc.sqlstate != _LOST_CREATE_RACE:
                    raise
                existing = await self.get_credential(identity_id=identity_id, name=name)
                fresh = True
                continue
            outcome, count, *current = answer
            if outcome == "ok":
                self._remember(key, new)
                return result
            if outcome == "limit":
                check_credential_limit(int(count), max_credentials)
                raise ServerError("The store and the core disagree on the credential limit.")
            if outcome == "gone":  # only an undelete asks to remove a tombstone
                raise _gone(str(version_note and version_note.revives))
            existing = None if current[0] is None else CredentialRow(*current)
            self._remember(key, existing)
            fresh = True
        self._remember(key, None)  # the script reads the row itself, under its lock
        return await super().modify_credential(
            identity_id=identity_id,
            name=name,
            change=change,
            audit=audit,
            max_credentials=max_credentials,
            version_note=version_note,
        )

    async def delete_credential(
        self,
        *,
        identity_id: str,
        name: str,
        audit: AuditEvent | None = None,
        deletion: DeletionNote | None = None,
    ) -> bool:
        self._remember((identity_id, name), None)
        return await super().delete_credential(
            identity_id=identity_id, name=name, audit=audit, deletion=deletion
        )

    # -- what PostgreSQL does its own way: one statement for a whole batch -----------

    async def add_key_wraps(self, *, counts: Mapping[str, int]) -> None:
        if not counts:
            return
        await self._run(
            "INSERT INTO master_key_usage (key_id, wraps) "
            "SELECT * FROM unnest(%s::text[], %s::bigint[]) "
            "ON CONFLICT (key_id) DO UPDATE SET wraps = master_key_usage.wraps + excluded.wraps",
            (list(counts), list(counts.values())),
        )

    async def append_audit_events(self, *, events: Sequence[AuditEvent]) -> None:
        """One short statement whatever the batch's size: the events' columns as
        arrays. Why not the shared multi-row VALUES: its SQL grows with the batch
        (1,200 placeholders per 100 events), too long for psycopg's query cache, so
        every flush re-parsed it: about 50 µs of this process's CPU per event (one
        per read), against about 12 µs as arrays (batches of 200, measured here)."""
        if not events:
            return
        columns = [list(column) for column in zip(*(e.values() for e in events), strict=True)]
        await self._run(_INSERT_AUDIT_ARRAYS, columns)

    async def record_last_used(self, *, last_used: Mapping[str, int]) -> None:
        if not last_used:
            return
        await self._run(
            "UPDATE credentials AS c SET last_used_at = v.at "
            "FROM (SELECT unnest(%s::text[]) AS id, unnest(%s::bigint[]) AS at) AS v "
            "WHERE c.credential_id = v.id AND (c.last_used_at IS NULL OR c.last_used_at < v.at)",
            (list(last_used), list(last_used.values())),
        )

    async def record_identity_usage(self, *, usage: Mapping[str, tuple[int, int]]) -> None:
        if not usage:
            return
        ids = list(usage)
        await self._run(
            "UPDATE identities AS i SET usage_count = i.usage_count + v.n, "
            "last_used_at = greatest(coalesce(i.last_used_at, 0), v.at) "
            "FROM (SELECT unnest(%s::text[]) AS id, unnest(%s::bigint[]) AS n, "
            "unnest(%s::bigint[]) AS at) AS v WHERE i.identity_id = v.id",
            (ids, [usage[i][0] for i in ids], [usage[i][1] for i in ids]),
        )
