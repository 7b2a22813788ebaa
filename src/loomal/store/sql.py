"""The store written once: every method both databases share, over four primitives.

A dialect (``SqliteStore``, ``PostgresStore``) supplies its :class:`Statements`
and four primitives: read one row, read all rows, run one write, and run a
*transaction script*. A script is a generator that yields :class:`Fetch` or
:class:`Run` steps and receives each step's row or row count; the dialect runs
it inside one write transaction (SQLite's group-commit writer thread, a
PostgreSQL transaction on a pooled connection). Read-modify-write sequences
(``modify_credential``, the credential limit, ``claim_master_key``) are
therefore written once and stay atomic on both databases.

The drivers hand back ``bytes`` for blob/bytea columns (psycopg's bytea loader
does so), so rows are built by position from the column lists in
``loomal.store``, the same way on both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import astuple
from typing import Any, ClassVar, TypeVar

from loomal.core.crypto import SealedData
from loomal.core.limits import check_credential_limit
from loomal.core.ports import (
    ApiKeyRow,
    AuditEvent,
    ConsoleSessionRow,
    CredentialListing,
    CredentialRow,
    IdentityRow,
    LoginLinkRow,
)
from loomal.core.version_store import DeletionNote, VersionNote
from loomal.errors import ConflictError, ServerError
from loomal.store import (
    api_key_values,
    audit_query,
    credential_update_values,
    credential_values,
    sealed_values,
)
from loomal.store.oauth_sql import OAuthSql
from loomal.store.outbox_sql import OutboxSql
from loomal.store.platform_sql import PlatformSql
from loomal.store.request_sql import RequestSql
from loomal.store.rules_sql import RulesSql
from loomal.store.statements import Statements
from loomal.store.steps import Fetch, FetchAll, Run, Script
from loomal.store.version_sql import VersionSql

__all__ = ["Fetch", "FetchAll", "Run", "Script", "SqlStore"]

T = TypeVar("T")

_AUDIT_ROWS_PER_INSERT = 100
_CREATE_RACE_RETRIES = 5


class _LostCreateRace(Exception):
    """Another transaction inserted the same (identity, name) first (PostgreSQL only:
    SQLite's writers are serialised); the script is run again and finds that row."""


def _taken(name: str) -> ConflictError:
    return ConflictError(f"An identity named {name!r} already exists.", code="identity_exists")


class SqlStore(PlatformSql, VersionSql, RulesSql, RequestSql, OAuthSql, OutboxSql):
    """The Store Protocol's shared half; subclasses supply the primitives below."""

    sql: ClassVar[Statements]
    unique_violation: ClassVar[type[Exception]]
    """The driver's error for a broken UNIQUE constraint."""

    # -- credentials ----------------------------------------------------------

    async def get_credential(self, *, identity_id: str, name: str) -> CredentialRow | None:
        row = await self._fetch_one(self.sql.get_credential, (identity_id, name))
        return None if row is None else CredentialRow(*row)

    async def list_credentials(
        self, *, identity_id: str, after_name: str | None, limit: int
    ) -> list[CredentialListing]:
        rows = await self._fetch_all(
            self.sql.list_credentials, (identity_id, after_name or "", limit)
        )
        return [CredentialListing(*r) for r in rows]

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
        sql = self.sql

        def script() -> Script[T]:
            found = yield Fetch(sql.get_credential_for_update, (identity_id, name))
            existing = None if found is None else CredentialRow(*found)
            if existing is None and max_credentials is not None:
                # The limit is the core's rule; the store only makes the count exact:
                # creates of one identity are serialised (SQLite's writer; PostgreSQL's
                # lock on the identity row), so the count includes every committed create.
                if sql.lock_identity:
                    yield Fetch(sql.lock_identity, (identity_id,))
                (count,) = yield Fetch(sql.count_credentials, (identity_id,))
                check_credential_limit(int(count), max_credentials)
            new, result = change(existing)
            if version_note is not None:
                yield from self._keep_version(new, version_note)
            if existing is None:
                if (yield Run(sql.insert_credential, credential_values(new))) == 0:
                    raise _LostCreateRace()
            else:
                values = credential_update_values(new, existing.credential_id)
                yield Run(sql.update_credential, values)
            if audit is not None:
                yield Run(sql.insert_audit, audit.values())
            return result

        for _ in range(_CREATE_RACE_RETRIES):
            try:
                return await self._transact(script)
            except _LostCreateRace:
                continue
        raise ServerError("Could not store the credential under contention; retry.")

    async def delete_credential(
        self,
        *,
        identity_id: str,
        name: str,
        audit: AuditEvent | None = None,
        deletion: DeletionNote | None = None,
    ) -> bool:
        sql = self.sql

        def script() -> Script[bool]:
            deleted = yield from self._bury(identity_id, name, deletion)
            if deleted and audit is not None:
                yield Run(sql.insert_audit, audit.values())
            return deleted

        return await self._transact(script)

    async def identities_owning(self, *, name: str, except_identity: str) -> list[str]:
        rows = await self._fetch_all(self.sql.identities_owning, (name, except_identity))
        return [identity_id for (identity_id,) in rows]

    async def count_credentials(self, *, identity_id: str) -> int:
        (count,) = await self._fetch_one(self.sql.count_credentials, (identity_id,))
        return int(count)

    async def ping(self) -> None:
        await self._fetch_one("SELECT 1")

    # -- audit -------------------------------------------------------------------

    async def append_audit_events(self, *, events: Sequence[AuditEvent]) -> None:
        rows = [event.values() for event in events]
        sql = self.sql

        def script() -> Script[None]:
            # Up to 100 rows per INSERT: far less CPU per event than one statement per row.
            for start in range(0, len(rows), _AUDIT_ROWS_PER_INSERT):
                chunk = rows[start : start + _AUDIT_ROWS_PER_INSERT]
                if sql.numbers_audit:
                    chunk = yield from self._numbered(chunk)
                yield Run(sql.insert_audit_rows(len(chunk)), [v for row in chunk for v in row])

        if rows:
            await self._transact(script)

    async def list_audit_events(
        self,
        *,
        identity_id: str | None,
        action: str | None,
        before: int | None,
        limit: int,
        since: int | None = None,
        until: int | None = None,
    ) -> list[tuple[int, AuditEvent]]:
        sql, params = audit_query(
            self.sql.p,
            identity_id=identity_id,
            action=action,
            before=before,
            limit=limit,
            since=since,
            until=until,
        )
        return [(row[0], AuditEvent(*row[1:])) for row in await self._fetch_all(sql, params)]

    def _numbered(self, rows: list[tuple[Any, ...]]) -> Script[list[tuple[Any, ...]]]:
        """``rows`` with each one's seq appended: the next numbers of each identity's
        log, read once per identity (rows without an identity get none)."""
        following: dict[str, int] = {}
        numbered = []
        for row in rows:
            identity_id = row[1]
            if identity_id is None:
                numbered.append((*row, None))
                continue
            if identity_id not in following:
                (following[identity_id],) = yield Fetch(self.sql.next_audit_seq, (identity_id,))
            numbered.append((*row, following[identity_id]))
            following[identity_id] += 1
        return numbered

    async def prune_audit_events(self, *, before: int, limit: int) -> int:
        sql = self.sql

        def script() -> Script[int]:
            if sql.keep_audit_floor:  # a log pruned empty goes on from its last number
                yield Run(sql.keep_audit_floor, (before, limit))
            count: int = yield Run(sql.prune_audit, (before, limit))
            return count

        return await self._transact(script)

    # -- identities and API keys ---------------------------------------------------

    async def create_identity(self, *, identity: IdentityRow, api_key: ApiKeyRow) -> None:
        sql = self.sql
        values = (identity.identity_id, identity.name, identity.created_at, identity.purpose)

        def script() -> Script[None]:
            yield Run(sql.insert_identity, values)
            yield Run(sql.insert_api_key, api_key_values(api_key))

        try:
            await self._transact(script)
        except self.unique_violation:
            raise _taken(identity.name) from None

    async def add_api_key(self, *, api_key: ApiKeyRow) -> None:
        await self._run(self.sql.insert_api_key, api_key_values(api_key))

    async def find_api_key(self, *, key_hash: bytes) -> ApiKeyRow | None:
        row = await self._fetch_one(self.sql.find_api_key, (key_hash,))
        return None if row is None else ApiKeyRow(*row)

    async def get_identity(self, *, name: str) -> IdentityRow | None:
        row = await self._fetch_one(self.sql.identity_by_name, (name,))
        return None if row is None else IdentityRow(*row)

    async def get_identity_by_id(self, *, identity_id: str) -> IdentityRow | None:
        row = await self._fetch_one(self.sql.identity_by_id, (identity_id,))
        return None if row is None else IdentityRow(*row)

    async def list_identities(self) -> Sequence[tuple[IdentityRow, Sequence[ApiKeyRow]]]:
        identities = [IdentityRow(*r) for r in await self._fetch_all(self.sql.all_identities)]
        keys: dict[str, list[ApiKeyRow]] = {}
        for r in await self._fetch_all(self.sql.all_api_keys):
            key = ApiKeyRow(*r)
            keys.setdefault(key.identity_id, []).append(key)
        return [(i, keys.get(i.identity_id, [])) for i in identities]

    async def list_api_keys(self, *, identity_id: str) -> list[ApiKeyRow]:
        return [ApiKeyRow(*r) for r in await self._fetch_all(self.sql.api_keys_of, (identity_id,))]

    async def revoke_api_keys(
        self, *, identity_id: str | None = None, prefix: str | None = None, at: int
    ) -> int:
        column, value = ("identity_id", identity_id) if identity_id else ("prefix", prefix)
        return await self._run(self.sql.revoke_api_keys_by[column], (at, value))

    async def expire_api_keys(self, *, identity_id: str, at: int, keep: bytes) -> int:
        return await self._run(self.sql.expire_api_keys, (at, identity_id, keep, at))

    async def count_identities(self) -> int:
        (count,) = await self._fetch_one(self.sql.count_identities)
        return int(count)

    # -- master keys ---------------------------------------------------------------

    async def master_key_ids(self) -> set[str]:
        return {k for (k,) in await self._fetch_all(self.sql.master_key_ids)}

    async def add_key_wraps(self, *, counts: Mapping[str, int]) -> None:
        sql = self.sql
        items = list(counts.items())

        def script() -> Script[None]:
            for item in items:  # one row per master key: a handful at most
                yield Run(sql.add_key_wraps, item)

        if items:
            await self._transact(script)

    async def key_wraps(self) -> dict[str, int]:
        return {k: int(n) for k, n in await self._fetch_all(self.sql.key_wraps)}

    async def count_by_key_id(self) -> dict[str, int]:
        return {k: int(n) for k, n in await self._fetch_all(self.sql.count_by_key_id)}

    async def rows_wrapped_by_other_keys(
        self, *, key_id: str, limit: int, after: str | None = None
    ) -> list[CredentialRow]:
        params = (key_id, after or "", limit)
        rows = await self._fetch_all(self.sql.rows_wrapped_by_other_keys, params)
        return [CredentialRow(*r) for r in rows]

    async def replace_wrapped_key(
        self, *, credential_id: str, version: int, old_key_id: str, key_id: str, wrapped_key: bytes
    ) -> bool:
        params = (key_id, wrapped_key, credential_id, version, old_key_id)
        return await self._run(self.sql.replace_wrapped_key, params) == 1

    async def rows_sealed_in_format_1(
        self, *, limit: int, after: str | None = None
    ) -> list[CredentialRow]:
        rows = await self._fetch_all(self.sql.rows_sealed_in_format_1, (after or "", limit))
        return [CredentialRow(*r) for r in rows]

    async def replace_sealed(
        self, *, credential_id: str, version: int, old_nonce: bytes, sealed: SealedData
    ) -> bool:
        params = (*sealed_values(sealed), credential_id, version, old_nonce)
        return await self._run(self.sql.replace_sealed, params) == 1

    async def claim_master_key(self, *, key_id: str, at: int) -> str:
        sql = self.sql

        def script() -> Script[str]:
            # Of servers starting together, the second one's INSERT waits for the
            # first one's commit and does nothing; the SELECT then sees the winner.
            yield Run(sql.claim_master_key, (key_id, at))
            (recorded,) = yield Fetch(sql.recorded_master_key)
            return str(recorded)

        return await self._transact(script)

    async def move_master_key(self, *, key_id: str, at: int) -> None:
        await self._run(self.sql.move_master_key, (key_id, at))

    async def recorded_master_key(self) -> str | None:
        row = await self._fetch_one(self.sql.recorded_master_key)
        return None if row is None else str(row[0])

    # -- web console -------------------------------------------------------------

    async def create_console_session(self, *, session: ConsoleSessionRow, now: int) -> None:
        await self._replace_expired(
            self.sql.drop_expired_console_sessions, self.sql.insert_console_session, now, session
        )

    async def get_console_session(self, *, session_hash: bytes) -> ConsoleSessionRow | None:
        row = await self._fetch_one(self.sql.get_console_session, (session_hash,))
        return None if row is None else ConsoleSessionRow(*row)

    async def touch_console_session(self, *, session_hash: bytes, last_seen_at: int) -> None:
        params = (last_seen_at, session_hash, last_seen_at)
        await self._run(self.sql.touch_console_session, params)

    async def delete_console_session(self, *, session_hash: bytes) -> None:
        await self._run(self.sql.delete_console_session, (session_hash,))

    async def create_login_link(self, *, link: LoginLinkRow, now: int) -> None:
        await self._replace_expired(
            self.sql.drop_expired_login_links, self.sql.insert_login_link, now, link
        )

    async def consume_login_link(self, *, token_hash: bytes, now: int) -> LoginLinkRow | None:
        sql = self.sql

        def script() -> Script[Any]:
            return (yield Fetch(sql.consume_login_link, (token_hash,)))

        row = await self._transact(script)
        return None if row is None or row[5] <= now else LoginLinkRow(*row)

    async def _replace_expired(self, drop: str, insert: str, now: int, row: Any) -> None:
        """Drop the rows that expired before ``now`` and insert ``row``, in one transaction."""
        values = astuple(row)

        def script() -> Script[None]:
            yield Run(drop, (now,))
            yield Run(insert, values)

        await self._transact(script)
