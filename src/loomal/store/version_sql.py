"""The history statements (kept versions, tombstones, destroy), written once per
placeholder style, and the one mixin of ``store/sql.py``'s layer that runs them on
either database. ``SqlStore`` runs :meth:`VersionSql._keep_version` and
:meth:`VersionSql._bury` as steps of its own write scripts, so a write and its
version (or a delete and its tombstone) commit together or not at all.

What to keep is never decided here: a :class:`VersionNote` says how many
versions stay; the maintenance loop says which tombstones expired."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from loomal.core.rows import AuditEvent, CredentialRow
from loomal.core.version_store import (
    TOMBSTONE_COLUMNS,
    VERSION_COLUMNS,
    DeletionNote,
    TombstoneRow,
    VersionNote,
    VersionRow,
)
from loomal.errors import NotFoundError
from loomal.store.statements import Statements
from loomal.store.steps import FetchAll, Run, Script, SqlPrimitives

__all__ = ["VERSIONS_POSTGRES", "VERSIONS_SQLITE", "VersionSql"]

T = TypeVar("T")


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
        self.drop_versions_of_current = (
            "DELETE FROM credential_versions WHERE credential_id IN "
            f"(SELECT credential_id FROM credentials WHERE identity_id = {p} AND name = {p})"
        )


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


def _other_keys(
    sql: _Sql, key_id: str, limit: int, after: tuple[str, int] | None
) -> tuple[str, tuple[Any, ...]]:
    if after is None:
        return sql.other_keys_first, (key_id, limit)
    return sql.other_keys_after, (key_id, after[0], after[0], after[1], limit)


def _gone(credential_id: str) -> NotFoundError:
    return NotFoundError(f"Deleted credential {credential_id} is no longer recoverable.")


VERSIONS_SQLITE = _Sql("?")
VERSIONS_POSTGRES = _Sql("%s")


class VersionSql(SqlPrimitives):
    """The VersionStore port over ``store/sql.py``'s primitives (declared here for
    type checking; ``SqlStore`` supplies them)."""

    versions: ClassVar[_Sql]
    sql: ClassVar[Statements]
    """The store's shared statements (the audit INSERT: one per dialect, in one place)."""

    def _keep_version(self, new: CredentialRow, note: VersionNote) -> Script[None]:
        """Steps of a write: keep ``new`` as a version, destroy those beyond ``note.keep``."""
        sql = self.versions
        if note.revives is not None and (yield Run(sql.unbury, (note.revives,))) == 0:
            raise _gone(note.revives)
        yield Run(sql.insert_version, _version_values(new, note))
        yield Run(sql.prune_versions, (new.credential_id, new.version - note.keep))

    def _bury(self, identity_id: str, name: str, note: DeletionNote | None) -> Script[bool]:
        """Steps of a delete: leave a tombstone (or, without ``note``, destroy the
        versions), then delete the current row; whether there was one."""
        sql = self.versions
        if note is not None:
            yield Run(sql.bury, (note.deleted_at, note.deleted_by, identity_id, name))
        else:
            yield Run(sql.drop_versions_of_current, (identity_id, name))
        count: int = yield Run(sql.delete_current, (identity_id, name))
        return count > 0

    def _destroy(self, credential_id: str) -> Script[None]:
        sql = self.versions
        for statement in (sql.destroy_versions, sql.destroy_tombstone, sql.destroy_current):
            yield Run(statement, (credential_id,))

    async def list_versions(self, *, identity_id: str, credential_id: str) -> list[VersionRow]:
        rows = await self._fetch_all(self.versions.list_versions, (identity_id, credential_id))
        return [VersionRow(*r) for r in rows]

    async def get_version(
        self, *, identity_id: str, credential_id: str, version: int
    ) -> VersionRow | None:
        params = (identity_id, credential_id, version)
        row = await self._fetch_one(self.versions.get_version, params)
        return None if row is None else VersionRow(*row)

    async def list_deleted(self, *, identity_id: str) -> list[TombstoneRow]:
        rows = await self._fetch_all(self.versions.list_deleted, (identity_id,))
        return [TombstoneRow(*r) for r in rows]

    async def find_deleted(self, *, identity_id: str, name: str) -> TombstoneRow | None:
        row = await self._fetch_one(self.versions.find_deleted, (identity_id, name))
        return None if row is None else TombstoneRow(*row)

    async def destroy_credential(
        self, *, identity_id: str, name: str, audit: AuditEvent | None = None
    ) -> int:
        sql = self.versions

        def script() -> Script[int]:
            rows = yield FetchAll(sql.ids_named, (identity_id, name) * 2)
            for (credential_id,) in rows:
                yield from self._destroy(credential_id)
            if rows and audit is not None:
                yield Run(self.sql.insert_audit, audit.values())
            return len(rows)

        return await self._transact(script)

    async def versions_wrapped_by_other_keys(
        self, *, key_id: str, limit: int, after: tuple[str, int] | None = None
    ) -> list[VersionRow]:
        sql, params = _other_keys(self.versions, key_id, limit, after)
        return [VersionRow(*r) for r in await self._fetch_all(sql, params)]

    async def replace_version_wrapped_key(
        self, *, credential_id: str, version: int, old_key_id: str, key_id: str, wrapped_key: bytes
    ) -> bool:
        values = (key_id, wrapped_key, credential_id, version, old_key_id)
        return await self._run(self.versions.rewrap, values) == 1

    async def count_versions_by_key_id(self) -> dict[str, int]:
        return {k: int(n) for k, n in await self._fetch_all(self.versions.count_by_key)}

    async def destroy_deleted_before(self, *, before: int, limit: int) -> int:
        sql = self.versions

        def script() -> Script[int]:
            rows = yield FetchAll(sql.expired, (before, limit))
            for (credential_id,) in rows:
                yield from self._destroy(credential_id)
            return len(rows)

        return await self._transact(script)
