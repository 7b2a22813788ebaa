"""The platform API's part of the one SQL layer (platform keys, identity pages,
rename, re-scope, delete, the console's platform sessions): the PlatformStore
port over ``store/sql.py``'s primitives, its statements in ``store/statements.py``."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from loomal.core.platform_store import PlatformKeyRow, PlatformSessionRow
from loomal.core.rows import IdentityRow
from loomal.errors import ConflictError
from loomal.store.statements import Statements
from loomal.store.steps import SqlPrimitives

__all__ = ["PlatformSql"]

T = TypeVar("T")


def _taken(name: str) -> ConflictError:
    return ConflictError(f"An identity named {name!r} already exists.", code="identity_exists")


class PlatformSql(SqlPrimitives):
    """Declares what it uses of ``SqlStore`` for type checking."""

    sql: ClassVar[Statements]
    unique_violation: ClassVar[type[Exception]]

    async def _replace_expired(self, drop: str, insert: str, now: int, row: Any) -> None:
        raise NotImplementedError

    async def create_platform_key(self, *, key: PlatformKeyRow) -> None:
        values = (key.key_hash, key.name, key.prefix, key.created_at, key.revoked_at)
        await self._run(self.sql.insert_platform_key, values)

    async def find_platform_key(self, *, key_hash: bytes) -> PlatformKeyRow | None:
        row = await self._fetch_one(self.sql.find_platform_key, (key_hash,))
        return None if row is None else PlatformKeyRow(*row)

    async def list_platform_keys(self) -> list[PlatformKeyRow]:
        return [PlatformKeyRow(*r) for r in await self._fetch_all(self.sql.list_platform_keys)]

    async def revoke_platform_keys(
        self, *, name: str | None = None, prefix: str | None = None, at: int
    ) -> int:
        column, value = ("name", name) if name is not None else ("prefix", prefix)
        return await self._run(self.sql.revoke_platform_keys_by[column], (at, value))

    async def page_identities(
        self, *, after: tuple[int, str] | None, limit: int
    ) -> list[IdentityRow]:
        if after is None:
            rows = await self._fetch_all(self.sql.first_identity_page, (limit,))
        else:
            params = (after[0], after[0], after[1], limit)
            rows = await self._fetch_all(self.sql.next_identity_page, params)
        return [IdentityRow(*r) for r in rows]

    async def rename_identity(self, *, identity_id: str, name: str) -> bool:
        try:
            return await self._run(self.sql.rename_identity, (name, identity_id)) > 0
        except self.unique_violation:
            raise _taken(name) from None

    async def set_api_key_scopes(self, *, identity_id: str, scopes: str) -> int:
        return await self._run(self.sql.set_api_key_scopes, (scopes, identity_id))

    async def delete_identity(self, *, identity_id: str) -> bool:
        # Keys, credentials and console sessions go by ON DELETE CASCADE, in this statement.
        return await self._run(self.sql.delete_identity, (identity_id,)) > 0

    async def create_platform_session(self, *, session: PlatformSessionRow, now: int) -> None:
        await self._replace_expired(
            self.sql.drop_expired_platform_sessions, self.sql.insert_platform_session, now, session
        )

    async def get_platform_session(self, *, session_hash: bytes) -> PlatformSessionRow | None:
        row = await self._fetch_one(self.sql.get_platform_session, (session_hash,))
        return None if row is None else PlatformSessionRow(*row)

    async def touch_platform_session(self, *, session_hash: bytes, last_seen_at: int) -> None:
        params = (last_seen_at, session_hash, last_seen_at)
        await self._run(self.sql.touch_platform_session, params)

    async def delete_platform_session(self, *, session_hash: bytes) -> None:
        await self._run(self.sql.delete_platform_session, (session_hash,))
