"""The history statements (kept versions, tombstones, destroy), written once, and
the two mixins that run them on SQLite and on PostgreSQL. ``SqliteStore`` and
``PostgresStore`` inherit them and call :meth:`_keep_version` and
:meth:`_bury` inside their own write transactions, so a write and its version
(or a delete and its tombstone) commit together or not at all.

What to keep is never decided here: a :class:`VersionNote` says how many
versions stay; the maintenance loop says which tombstones expired."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from loomal.core.store import AuditEvent, CredentialRow
from loomal.core.version_store import (
    TOMBSTONE_COLUMNS,
    VERSION_COLUMNS,
    DeletionNote,
    TombstoneRow,
    VersionNote,
    VersionRow,
)
from loomal.errors import NotFoundError
from loomal.store import audit_insert_sql

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

__all__ = ["PostgresVersionStore", "SqliteVersionStore"]

T = TypeVar("T")

_BLOBS = (5, 11, 12, 13)  # metadata, wrapped_key, nonce, ciphertext (bytea on PostgreSQL)


class _Sql:
    """The statements, for one placeholder style (``?`` or ``%s``)."""

    def __init__(self, p: str) -> None:
        marks = ", ".join([p] * len(VERSION_COLUMNS.split(",")))
        self.insert_version = (
            f"INSERT INTO credential_versions ({VERSION_COLUMNS}) VALUES ({marks})"
        )
        self.prune_versions = (
            f"DELETE FROM credential_versions WHERE credential_id = {p} AND version <= {p}"
        )
        self.list_versions = (
            f"SELECT {VERSION_COLUMNS} FROM credential_versions "
            f"WHERE identity_id = {p} AND credential_id = {p} ORDER BY version DESC"
        )
        self.get_version = (
            f"SELECT {VERSION_COLUMNS} FROM credential_versions "
            f"WHERE identity_id = {p} AND credential_id = {p} AND version = {p}"
        )
        self.unbury = f"DELETE FROM credential_tombstones WHERE credential_id = {p}"
        self.bury = (
            f"INSERT INTO credential_tombstones ({TOMBSTONE_COLUMNS}) "
            f"SELECT credential_id, identity_id, name, type, version, created_at, {p}, {p} "
            f"FROM credentials WHERE identity_id = {p} AND name = {p}"
        )
        self.delete_current = f"DELETE FROM credentials WHERE identity_id = {p} AND name = {p}"
        self.list_deleted = (
            f"SELECT {TOMBSTONE_COLUMNS} FROM credential_tombstones WHERE identity_id = {p} "
            "ORDER BY deleted_at DESC, name"
        )
        self.find_deleted = (
            f"SELECT {TOMBSTONE_COLUMNS} FROM credential_tombstones "
            f"WHERE identity_id = {p} AND name = {p} ORDER BY deleted_at DESC LIMIT 1"
        )
        self.ids_named = (
            f"SELECT credential_id FROM credentials WHERE identity_id = {p} AND name = {p} "
            f"UNION SELECT credential_id FROM credential_tombstones "
            f"WHERE identity_id = {p} AND name = {p}"
        )
        self.destroy_versions = f"DELETE FROM credential_versions WHERE credential_id = {p}"
        self.destroy_tombstone = f"DELETE FROM credential_tombstones WHERE credential_id = {p}"
        self.destroy_current = f"DELETE FROM credentials WHERE credential_id = {p}"
        self.expired = (
            f"SELECT credential_id FROM credential_tombstones WHERE deleted_at < {p} "
            f"ORDER BY deleted_at LIMIT {p}"
        )
        self.insert_audit = audit_insert_sql(p)
        self.other_keys_first = (
            f"SELECT {VERSION_COLUMNS} FROM credential_versions WHERE key_id != {p} "
            f"ORDER BY credential_id, version LIMIT {p}"
        )
        self.other_keys_after = (
            f"SELECT {VERSION_COLUMNS} FROM credential_versions WHERE key_id != {p} "
            f"AND (credential_id > {p} OR (credential_id = {p} AND version > {p})) "
            f"ORDER BY credential_id, version LIMIT {p}"
        )
        self.rewrap = (
            f"UPDATE credential_versions SET key_id = {p}, wrapped_key = {p} "
            f"WHERE credential_id = {p} AND version = {p} AND key_id = {p}"
        )
        self.count_by_key = "SELECT key_id, count(*) FROM credential_versions GROUP BY key_id"


def _version_values(row: CredentialRow, note: VersionNote) -> tuple[Any, ...]:
    return (
        row.credential_id,
        row.version,
        row.identity_id,
        row.name,
        row.type,
        row.metadata_json,
        row.expires_at,
        note.written_at,
        note.written_by,
        note.kind,
        row.key_id,
        row.wrapped_key,
        row.nonce,
        row.ciphertext,
    )


def _version(row: Sequence[Any]) -> VersionRow:
    values = list(row)
    for index in _BLOBS:
        values[index] = bytes(values[index])
    return VersionRow(*values)


def _other_keys(
    sql: _Sql, key_id: str, limit: int, after: tuple[str, int] | None
) -> tuple[str, tuple[Any, ...]]:
    if after is None:
        return sql.other_keys_first, (key_id, limit)
    return sql.other_keys_after, (key_id, after[0], after[0], after[1], limit)


def _gone(credential_id: str) -> NotFoundError:
    return NotFoundError(f"Deleted credential {credential_id} is no longer recoverable.")


_LITE = _Sql("?")
_PG = _Sql("%s")


class SqliteVersionStore:
    if TYPE_CHECKING:
        _reader: sqlite3.Connection

        async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T: ...

    @staticmethod
    def _keep_version(conn: sqlite3.Connection, new: CredentialRow, note: VersionNote) -> None:
        """Inside a write: keep ``new`` as a version, destroy those beyond ``note.keep``."""
        if note.revives is not None and conn.execute(_LITE.unbury, (note.revives,)).rowcount == 0:
            raise _gone(note.revives)
        conn.execute(_LITE.insert_version, _version_values(new, note))
        conn.execute(_LITE.prune_versions, (new.credential_id, new.version - note.keep))

    @staticmethod
    def _bury(
        conn: sqlite3.Connection, identity_id: str, name: str, note: DeletionNote | None
    ) -> bool:
        """Inside a delete: leave a tombstone (or, without ``note``, destroy the
        versions), then delete the current row; whether there was one."""
        if note is not None:
            conn.execute(_LITE.bury, (note.deleted_at, note.deleted_by, identity_id, name))
        else:
            conn.execute(
                "DELETE FROM credential_versions WHERE credential_id IN "
                "(SELECT credential_id FROM credentials WHERE identity_id = ? AND name = ?)",
                (identity_id, name),
            )
        return conn.execute(_LITE.delete_current, (identity_id, name)).rowcount > 0

    async def list_versions(self, *, identity_id: str, credential_id: str) -> list[VersionRow]:
        rows = self._reader.execute(_LITE.list_versions, (identity_id, credential_id))
        return [_version(r) for r in rows]

    async def get_version(
        self, *, identity_id: str, credential_id: str, version: int
    ) -> VersionRow | None:
        row = self._reader.execute(
            _LITE.get_version, (identity_id, credential_id, version)
        ).fetchone()
        return None if row is None else _version(row)

    async def list_deleted(self, *, identity_id: str) -> list[TombstoneRow]:
        return [TombstoneRow(*r) for r in self._reader.execute(_LITE.list_deleted, (identity_id,))]

    async def find_deleted(self, *, identity_id: str, name: str) -> TombstoneRow | None:
        row = self._reader.execute(_LITE.find_deleted, (identity_id, name)).fetchone()
        return None if row is None else TombstoneRow(*row)

    async def destroy_credential(
        self, *, identity_id: str, name: str, audit: AuditEvent | None = None
    ) -> int:
        def work(conn: sqlite3.Connection) -> int:
            ids = [r[0] for r in conn.execute(_LITE.ids_named, (identity_id, name) * 2)]
            for credential_id in ids:
                _destroy_lite(conn, credential_id)
            if ids and audit is not None:
                conn.execute(_LITE.insert_audit, audit.values())
            return len(ids)

        return await self._write(work)

    async def versions_wrapped_by_other_keys(
        self, *, key_id: str, limit: int, after: tuple[str, int] | None = None
    ) -> list[VersionRow]:
        sql, params = _other_keys(_LITE, key_id, limit, after)
        return [_version(r) for r in self._reader.execute(sql, params)]

    async def replace_version_wrapped_key(
        self, *, credential_id: str, version: int, old_key_id: str, key_id: str, wrapped_key: bytes
    ) -> bool:
        values = (key_id, wrapped_key, credential_id, version, old_key_id)
        return await self._write(lambda conn: conn.execute(_LITE.rewrap, values).rowcount == 1)

    async def count_versions_by_key_id(self) -> dict[str, int]:
        return {k: int(n) for k, n in self._reader.execute(_LITE.count_by_key)}

    async def destroy_deleted_before(self, *, before: int, limit: int) -> int:
        def work(conn: sqlite3.Connection) -> int:
            ids = [r[0] for r in conn.execute(_LITE.expired, (before, limit))]
            for credential_id in ids:
                _destroy_lite(conn, credential_id)
            return len(ids)

        return await self._write(work)


def _destroy_lite(conn: sqlite3.Connection, credential_id: str) -> None:
    for sql in (_LITE.destroy_versions, _LITE.destroy_tombstone, _LITE.destroy_current):
        conn.execute(sql, (credential_id,))


async def _destroy_pg(conn: AsyncConnection[Any], credential_id: str) -> None:
    for sql in (_PG.destroy_versions, _PG.destroy_tombstone, _PG.destroy_current):
        await conn.execute(sql.encode(), (credential_id,))


class PostgresVersionStore:
    if TYPE_CHECKING:
        _pool: AsyncConnectionPool[Any]

        async def _fetchone(self, query: str, params: Sequence[Any]) -> Any: ...

        async def _fetchall(self, query: str, params: Sequence[Any] = ()) -> list[Any]: ...

        async def _execute(self, query: str, params: Sequence[Any]) -> int: ...

    @staticmethod
    async def _keep_version(
        conn: AsyncConnection[Any], new: CredentialRow, note: VersionNote
    ) -> None:
        """Inside a write: keep ``new`` as a version, destroy those beyond ``note.keep``."""
        if note.revives is not None:
            cur = await conn.execute(_PG.unbury.encode(), (note.revives,))
            if cur.rowcount == 0:
                raise _gone(note.revives)
        await conn.execute(_PG.insert_version.encode(), _version_values(new, note))
        await conn.execute(
            _PG.prune_versions.encode(), (new.credential_id, new.version - note.keep)
        )

    @staticmethod
    async def _bury(
        conn: AsyncConnection[Any], identity_id: str, name: str, note: DeletionNote | None
    ) -> bool:
        """Inside a delete: leave a tombstone (or, without ``note``, destroy the
        versions), then delete the current row; whether there was one."""
        if note is not None:
            values = (note.deleted_at, note.deleted_by, identity_id, name)
            await conn.execute(_PG.bury.encode(), values)
        else:
            await conn.execute(
                b"DELETE FROM credential_versions WHERE credential_id IN "
                b"(SELECT credential_id FROM credentials WHERE identity_id = %s AND name = %s)",
                (identity_id, name),
            )
        cur = await conn.execute(_PG.delete_current.encode(), (identity_id, name))
        return cur.rowcount > 0

    async def list_versions(self, *, identity_id: str, credential_id: str) -> list[VersionRow]:
        rows = await self._fetchall(_PG.list_versions, (identity_id, credential_id))
        return [_version(r) for r in rows]

    async def get_version(
        self, *, identity_id: str, credential_id: str, version: int
    ) -> VersionRow | None:
        row = await self._fetchone(_PG.get_version, (identity_id, credential_id, version))
        return None if row is None else _version(row)

    async def list_deleted(self, *, identity_id: str) -> list[TombstoneRow]:
        return [TombstoneRow(*r) for r in await self._fetchall(_PG.list_deleted, (identity_id,))]

    async def find_deleted(self, *, identity_id: str, name: str) -> TombstoneRow | None:
        row = await self._fetchone(_PG.find_deleted, (identity_id, name))
        return None if row is None else TombstoneRow(*row)

    async def destroy_credential(
        self, *, identity_id: str, name: str, audit: AuditEvent | None = None
    ) -> int:
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(_PG.ids_named.encode(), (identity_id, name) * 2)
            ids = [r[0] for r in await cur.fetchall()]
            for credential_id in ids:
                await _destroy_pg(conn, credential_id)
            if ids and audit is not None:
                await conn.execute(_PG.insert_audit.encode(), audit.values())
            return len(ids)

    async def versions_wrapped_by_other_keys(
        self, *, key_id: str, limit: int, after: tuple[str, int] | None = None
    ) -> list[VersionRow]:
        sql, params = _other_keys(_PG, key_id, limit, after)
        return [_version(r) for r in await self._fetchall(sql, params)]

    async def replace_version_wrapped_key(
        self, *, credential_id: str, version: int, old_key_id: str, key_id: str, wrapped_key: bytes
    ) -> bool:
        values = (key_id, wrapped_key, credential_id, version, old_key_id)
        return await self._execute(_PG.rewrap, values) == 1

    async def count_versions_by_key_id(self) -> dict[str, int]:
        return {k: int(n) for k, n in await self._fetchall(_PG.count_by_key)}

    async def destroy_deleted_before(self, *, before: int, limit: int) -> int:
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(_PG.expired.encode(), (before, limit))
            ids = [r[0] for r in await cur.fetchall()]
            for credential_id in ids:
                await _destroy_pg(conn, credential_id)
            return len(ids)
