"""The OAuth statements (refresh leases, connect states), written once per
placeholder style, and the mixin of ``store/sql.py``'s layer that runs them on
either database (as ``version_sql.py`` and ``rules_sql.py`` do).

A lease is taken by one upsert that succeeds only over a lapsed lease, so two
workers or servers can never both hold it; on SQLite it is one short write
transaction, never held across the call to the provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

from loomal.core.oauth_store import ConnectState, OAuthLease
from loomal.store.steps import Fetch, Run, Script, SqlPrimitives

__all__ = ["OAUTH_POSTGRES", "OAUTH_SQLITE", "OAuthSql"]

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


OAUTH_SQLITE = _Sql("?")
OAUTH_POSTGRES = _Sql("%s")


def _lease(row: Sequence[Any] | None) -> OAuthLease | None:
    return None if row is None else OAuthLease(row[0], int(row[1]), row[2])


def _state(state_hash: bytes, row: Sequence[Any] | None) -> ConnectState | None:
    if row is None:
        return None
    return ConnectState(state_hash, row[0], row[1], bytes(row[2]), int(row[3]))


class OAuthSql(SqlPrimitives):
    """The OAuthStore port over ``store/sql.py``'s primitives (declared here for type
    checking; ``SqlStore`` supplies them)."""

    oauth: ClassVar[_Sql]

    async def take_oauth_lease(
        self, *, credential_id: str, holder: str, now: int, until: int, state: str
    ) -> bool:
        values = (credential_id, holder, until, state, now)
        return await self._run(self.oauth.take, values) > 0

    async def oauth_lease(self, *, credential_id: str) -> OAuthLease | None:
        return _lease(await self._fetch_one(self.oauth.get, (credential_id,)))

    async def set_oauth_lease(
        self, *, credential_id: str, holder: str, until: int, state: str
    ) -> None:
        await self._run(self.oauth.set, (until, state, credential_id, holder))

    async def release_oauth_lease(self, *, credential_id: str, holder: str) -> None:
        await self._run(self.oauth.release, (credential_id, holder))

    async def add_connect_state(self, *, state: ConnectState, now: int) -> None:
        sql, values = self.oauth, state.values()

        def script() -> Script[None]:
            yield Run(sql.drop_expired_states, (now,))
            yield Run(sql.insert_state, values)

        await self._transact(script)

    async def pop_connect_state(self, *, state_hash: bytes) -> ConnectState | None:
        sql = self.oauth

        def script() -> Script[Any]:
            return (yield Fetch(sql.pop_state, (state_hash,)))

        return _state(state_hash, await self._transact(script))
