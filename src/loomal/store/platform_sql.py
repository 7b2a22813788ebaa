"""The platform API's statements (platform keys, identity pages, rename, re-scope,
delete, the console's platform sessions), written once, and the two small mixins
that run them on SQLite and on PostgreSQL. ``SqliteStore`` and ``PostgresStore``
inherit them; what they need of those classes (a reader and a writer, a pool) is
declared for type checking."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from loomal.core.platform_store import PlatformKeyRow, PlatformSessionRow
from loomal.core.store import IdentityRow
from loomal.errors import ConflictError
from loomal.store import IDENTITY_COLUMNS, PLATFORM_KEY_COLUMNS

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

__all__ = ["PostgresPlatformStore", "SqlitePlatformStore"]

T = TypeVar("T")


_SESSION_COLUMNS = "session_hash, key_hash, created_at, last_seen_at, expires_at"


class _Sql:
    """The statements, for one placeholder style (``?`` or ``%s``)."""

    def __init__(self, p: str) -> None:
        self.insert_key = (
            f"INSERT INTO platform_keys ({PLATFORM_KEY_COLUMNS}) VALUES ({p}, {p}, {p}, {p}, {p})"
        )
        self.find_key = f"SELECT {PLATFORM_KEY_COLUMNS} FROM platform_keys WHERE key_hash = {p}"
        self.list_keys = f"SELECT {PLATFORM_KEY_COLUMNS} FROM platform_keys ORDER BY created_at"
        self.revoke_by = {
            column: f"UPDATE platform_keys SET revoked_at = {p} "
            f"WHERE {column} = {p} AND revoked_at IS NULL"
            for column in ("name", "prefix")
        }
        self.first_page = (
            f"SELECT {IDENTITY_COLUMNS} FROM identities ORDER BY created_at, identity_id LIMIT {p}"
        )
        self.next_page = (
            f"SELECT {IDENTITY_COLUMNS} FROM identities "
            f"WHERE created_at > {p} OR (created_at = {p} AND identity_id > {p}) "
            f"ORDER BY created_at, identity_id LIMIT {p}"
        )
        self.rename = f"UPDATE identities SET name = {p} WHERE identity_id = {p}"
        self.scopes = (
            f"UPDATE api_keys SET scopes = {p} WHERE identity_id = {p} AND revoked_at IS NULL"
        )
        self.delete = f"DELETE FROM identities WHERE identity_id = {p}"
        self.drop_expired_sessions = f"DELETE FROM platform_sessions WHERE expires_at <= {p}"
        self.insert_session = (
            f"INSERT INTO platform_sessions ({_SESSION_COLUMNS}) VALUES ({p}, {p}, {p}, {p}, {p})"
        )
        self.get_session = (
            f"SELECT {_SESSION_COLUMNS} FROM platform_sessions WHERE session_hash = {p}"
        )
        self.touch_session = (
            f"UPDATE platform_sessions SET last_seen_at = {p} "
            f"WHERE session_hash = {p} AND last_seen_at < {p}"
        )
        self.delete_session = f"DELETE FROM platform_sessions WHERE session_hash = {p}"


def _page_params(after: tuple[int, str] | None, limit: int) -> tuple[Any, ...]:
    return (limit,) if after is None else (after[0], after[0], after[1], limit)


def _taken(name: str) -> ConflictError:
    return ConflictError(f"An identity named {name!r} already exists.", code="identity_exists")


def _key(row: Sequence[Any]) -> PlatformKeyRow:
    return PlatformKeyRow(bytes(row[0]), *row[1:])


def _session(row: Sequence[Any]) -> PlatformSessionRow:
    return PlatformSessionRow(bytes(row[0]), bytes(row[1]), *row[2:])


def _session_values(session: PlatformSessionRow) -> tuple[Any, ...]:
    return (
        session.session_hash,
        session.key_hash,
        session.created_at,
        session.last_seen_at,
        session.expires_at,
    )


_LITE = _Sql("?")
_PG = _Sql("%s")


class SqlitePlatformStore:
    if TYPE_CHECKING:
        _reader: sqlite3.Connection

        async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T: ...

    async def create_platform_key(self, *, key: PlatformKeyRow) -> None:
        values = (key.key_hash, key.name, key.prefix, key.created_at, key.revoked_at)
        await self._write(lambda conn: conn.execute(_LITE.insert_key, values))

    async def find_platform_key(self, *, key_hash: bytes) -> PlatformKeyRow | None:
        row = self._reader.execute(_LITE.find_key, (key_hash,)).fetchone()
        return None if row is None else _key(row)

    async def list_platform_keys(self) -> list[PlatformKeyRow]:
        return [_key(r) for r in self._reader.execute(_LITE.list_keys)]

    async def revoke_platform_keys(
        self, *, name: str | None = None, prefix: str | None = None, at: int
    ) -> int:
        column, value = ("name", name) if name is not None else ("prefix", prefix)
        sql = _LITE.revoke_by[column]
        return await self._write(lambda conn: conn.execute(sql, (at, value)).rowcount)

    async def page_identities(
        self, *, after: tuple[int, str] | None, limit: int
    ) -> list[IdentityRow]:
        sql = _LITE.first_page if after is None else _LITE.next_page
        return [IdentityRow(*r) for r in self._reader.execute(sql, _page_params(after, limit))]

    async def rename_identity(self, *, identity_id: str, name: str) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            try:
                return conn.execute(_LITE.rename, (name, identity_id)).rowcount > 0
            except sqlite3.IntegrityError:
                raise _taken(name) from None

        return await self._write(work)

    async def set_api_key_scopes(self, *, identity_id: str, scopes: str) -> int:
        return await self._write(
            lambda conn: conn.execute(_LITE.scopes, (scopes, identity_id)).rowcount
        )

    async def delete_identity(self, *, identity_id: str) -> bool:
        # Keys, credentials and console sessions go by ON DELETE CASCADE, in this statement.
        return await self._write(
            lambda conn: conn.execute(_LITE.delete, (identity_id,)).rowcount > 0
        )

    async def create_platform_session(self, *, session: PlatformSessionRow, now: int) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(_LITE.drop_expired_sessions, (now,))
            conn.execute(_LITE.insert_session, _session_values(session))

        await self._write(work)

    async def get_platform_session(self, *, session_hash: bytes) -> PlatformSessionRow | None:
        row = self._reader.execute(_LITE.get_session, (session_hash,)).fetchone()
        return None if row is None else _session(row)

    async def touch_platform_session(self, *, session_hash: bytes, last_seen_at: int) -> None:
        values = (last_seen_at, session_hash, last_seen_at)
        await self._write(lambda conn: conn.execute(_LITE.touch_session, values))

    async def delete_platform_session(self, *, session_hash: bytes) -> None:
        await self._write(lambda conn: conn.execute(_LITE.delete_session, (session_hash,)))


class PostgresPlatformStore:
    if TYPE_CHECKING:
        _pool: AsyncConnectionPool[Any]

        async def _fetchone(self, query: str, params: Sequence[Any]) -> Any: ...

        async def _fetchall(self, query: str, params: Sequence[Any] = ()) -> list[Any]: ...

        async def _execute(self, query: str, params: Sequence[Any]) -> int: ...

    async def create_platform_key(self, *, key: PlatformKeyRow) -> None:
        values = (key.key_hash, key.name, key.prefix, key.created_at, key.revoked_at)
        await self._execute(_PG.insert_key, values)

    async def find_platform_key(self, *, key_hash: bytes) -> PlatformKeyRow | None:
        row = await self._fetchone(_PG.find_key, (key_hash,))
        return None if row is None else _key(row)

    async def list_platform_keys(self) -> list[PlatformKeyRow]:
        return [_key(r) for r in await self._fetchall(_PG.list_keys)]

    async def revoke_platform_keys(
        self, *, name: str | None = None, prefix: str | None = None, at: int
    ) -> int:
        column, value = ("name", name) if name is not None else ("prefix", prefix)
        return await self._execute(_PG.revoke_by[column], (at, value))

    async def page_identities(
        self, *, after: tuple[int, str] | None, limit: int
    ) -> list[IdentityRow]:
        sql = _PG.first_page if after is None else _PG.next_page
        return [IdentityRow(*r) for r in await self._fetchall(sql, _page_params(after, limit))]

    async def rename_identity(self, *, identity_id: str, name: str) -> bool:
        from psycopg import errors as pg_errors

        try:
            return await self._execute(_PG.rename, (name, identity_id)) > 0
        except pg_errors.UniqueViolation:
            raise _taken(name) from None

    async def set_api_key_scopes(self, *, identity_id: str, scopes: str) -> int:
        return await self._execute(_PG.scopes, (scopes, identity_id))

    async def delete_identity(self, *, identity_id: str) -> bool:
        # Keys, credentials and console sessions go by ON DELETE CASCADE, in this statement.
        return await self._execute(_PG.delete, (identity_id,)) > 0

    async def create_platform_session(self, *, session: PlatformSessionRow, now: int) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(_PG.drop_expired_sessions.encode(), (now,))
            await conn.execute(_PG.insert_session.encode(), _session_values(session))

    async def get_platform_session(self, *, session_hash: bytes) -> PlatformSessionRow | None:
        row = await self._fetchone(_PG.get_session, (session_hash,))
        return None if row is None else _session(row)

    async def touch_platform_session(self, *, session_hash: bytes, last_seen_at: int) -> None:
        await self._execute(_PG.touch_session, (last_seen_at, session_hash, last_seen_at))

    async def delete_platform_session(self, *, session_hash: bytes) -> None:
        await self._execute(_PG.delete_session, (session_hash,))
