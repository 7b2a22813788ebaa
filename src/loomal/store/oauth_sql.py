"""The OAuth statements (refresh leases, connect states), written once, and the two
mixins that run them on SQLite and PostgreSQL (inherited by ``SqliteStore`` and
``PostgresStore``, as ``platform_sql.py``'s are).

A lease is taken by one upsert that succeeds only over a lapsed lease, so two
workers or servers can never both hold it; on SQLite it is one short write
transaction, never held across the call to the provider.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from loomal.core.oauth_store import ConnectState, OAuthLease

__all__ = ["PostgresOAuthStore", "SqliteOAuthStore"]

T = TypeVar("T")


class _Sql:
    def __init__(self, p: str) -> None:
        self.take = (
            f"INSERT INTO oauth_leases (credential_id, holder, until, state) "
            f"VALUES ({p}, {p}, {p}, {p}) ON CONFLICT (credential_id) DO UPDATE "
            f"SET holder = excluded.holder, until = excluded.until, state = excluded.state "
            f"WHERE oauth_leases.until <= {p}"
        )
        self.get = f"SELECT holder, until, state FROM oauth_leases WHERE credential_id = {p}"
        self.set = (
            f"UPDATE oauth_leases SET until = {p}, state = {p} "
            f"WHERE credential_id = {p} AND holder = {p}"
        )
        self.release = f"DELETE FROM oauth_leases WHERE credential_id = {p} AND holder = {p}"
        self.drop_expired_states = f"DELETE FROM oauth_connect_states WHERE expires_at <= {p}"
        self.insert_state = (
            "INSERT INTO oauth_connect_states "
            "(state_hash, identity_id, credential_name, pending, expires_at) "
            f"VALUES ({p}, {p}, {p}, {p}, {p})"
        )
        self.pop_state = (
            f"DELETE FROM oauth_connect_states WHERE state_hash = {p} "
            "RETURNING identity_id, credential_name, pending, expires_at"
        )


_LITE = _Sql("?")
_PG = _Sql("%s")


def _lease(row: Sequence[Any] | None) -> OAuthLease | None:
    return None if row is None else OAuthLease(row[0], int(row[1]), row[2])


def _state(state_hash: bytes, row: Sequence[Any] | None) -> ConnectState | None:
    if row is None:
        return None
    return ConnectState(state_hash, row[0], row[1], bytes(row[2]), int(row[3]))


class SqliteOAuthStore:
    if TYPE_CHECKING:
        _reader: sqlite3.Connection

        async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T: ...

    async def take_oauth_lease(
        self, *, credential_id: str, holder: str, now: int, until: int, state: str
    ) -> bool:
        values = (credential_id, holder, until, state, now)
        return await self._write(lambda conn: conn.execute(_LITE.take, values).rowcount > 0)

    async def oauth_lease(self, *, credential_id: str) -> OAuthLease | None:
        return _lease(self._reader.execute(_LITE.get, (credential_id,)).fetchone())

    async def set_oauth_lease(
        self, *, credential_id: str, holder: str, until: int, state: str
    ) -> None:
        values = (until, state, credential_id, holder)
        await self._write(lambda conn: conn.execute(_LITE.set, values))

    async def release_oauth_lease(self, *, credential_id: str, holder: str) -> None:
        await self._write(lambda conn: conn.execute(_LITE.release, (credential_id, holder)))

    async def add_connect_state(self, *, state: ConnectState, now: int) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(_LITE.drop_expired_states, (now,))
            conn.execute(_LITE.insert_state, state.values())

        await self._write(work)

    async def pop_connect_state(self, *, state_hash: bytes) -> ConnectState | None:
        def work(conn: sqlite3.Connection) -> ConnectState | None:
            return _state(state_hash, conn.execute(_LITE.pop_state, (state_hash,)).fetchone())

        return await self._write(work)


class PostgresOAuthStore:
    if TYPE_CHECKING:

        async def _fetchone(self, query: str, params: Sequence[Any]) -> Any: ...

        async def _execute(self, query: str, params: Sequence[Any]) -> int: ...

    async def take_oauth_lease(
        self, *, credential_id: str, holder: str, now: int, until: int, state: str
    ) -> bool:
        return await self._execute(_PG.take, (credential_id, holder, until, state, now)) > 0

    async def oauth_lease(self, *, credential_id: str) -> OAuthLease | None:
        return _lease(await self._fetchone(_PG.get, (credential_id,)))

    async def set_oauth_lease(
        self, *, credential_id: str, holder: str, until: int, state: str
    ) -> None:
        await self._execute(_PG.set, (until, state, credential_id, holder))

    async def release_oauth_lease(self, *, credential_id: str, holder: str) -> None:
        await self._execute(_PG.release, (credential_id, holder))

    async def add_connect_state(self, *, state: ConnectState, now: int) -> None:
        await self._execute(_PG.drop_expired_states, (now,))
        await self._execute(_PG.insert_state, state.values())

    async def pop_connect_state(self, *, state_hash: bytes) -> ConnectState | None:
        return _state(state_hash, await self._fetchone(_PG.pop_state, (state_hash,)))
