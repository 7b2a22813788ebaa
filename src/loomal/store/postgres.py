"""PostgreSQL store: for several stateless servers sharing one database.

psycopg 3, async, pooled (statements are prepared by psycopg after a few uses).
Read-modify-write holds the row with ``SELECT ... FOR UPDATE`` inside one
transaction; a create that races another create of the same name loses on the
unique constraint and is retried, now finding (and locking) the winner's row.
Migrations run under a transaction-scoped advisory lock, so servers starting
at once apply each migration exactly once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool

from loomal.core.crypto import SealedData
from loomal.core.limits import check_credential_limit
from loomal.core.store import (
    ApiKeyRow,
    AuditEvent,
    ConsoleSessionRow,
    CredentialListing,
    CredentialRow,
    IdentityRow,
    LoginLinkRow,
)
from loomal.core.version_store import DeletionNote, VersionNote
from loomal.errors import ConflictError, NotFoundError, ServerError
from loomal.store import (
    API_KEY_COLUMNS,
    CREDENTIAL_COLUMNS,
    IDENTITY_COLUMNS,
    LISTING_COLUMNS,
    LOGIN_LINK_COLUMNS,
    SESSION_COLUMNS,
    api_key_values,
    audit_insert_sql,
    audit_prune_sql,
    audit_query,
    credential_insert_sql,
    credential_update_sql,
    credential_update_values,
    credential_values,
    load_migrations,
    sealed_values,
)
from loomal.store.oauth_sql import PostgresOAuthStore
from loomal.store.platform_sql import PostgresPlatformStore
from loomal.store.rules_sql import PostgresRulesStore
from loomal.store.version_sql import PostgresVersionStore

__all__ = ["PostgresStore"]

T = TypeVar("T")

_UPDATE_CREDENTIAL = credential_update_sql("%s").encode()
_INSERT_CREDENTIAL = (
    credential_insert_sql("%s") + " ON CONFLICT (identity_id, name) DO NOTHING"
).encode()
_INSERT_AUDIT = audit_insert_sql("%s").encode()
_LOCK_IDENTITY = b"SELECT 1 FROM identities WHERE identity_id = %s FOR UPDATE"
_COUNT_CREDENTIALS = b"SELECT count(*) FROM credentials WHERE identity_id = %s"
_MIGRATION_LOCK = 0x6C6F6F6D616C  # "loomal"
_CREATE_RACE_RETRIES = 5


class _LostCreateRace(Exception):
    """Another transaction inserted the same (identity, name) first."""


def _credential(row: Sequence[Any]) -> CredentialRow:
    values = list(row)
    for index in (3, 12, 13, 14):  # bytea columns: metadata, wrapped_key, nonce, ciphertext
        values[index] = bytes(values[index])
    return CredentialRow(*values)


def _listing(row: Sequence[Any]) -> CredentialListing:
    values = list(row)
    values[3] = bytes(values[3])  # metadata, bytea
    return CredentialListing(*values)


def _api_key(row: Sequence[Any]) -> ApiKeyRow:
    return ApiKeyRow(bytes(row[0]), *row[1:])


def _where(url: str) -> str:
    """host:port of a database URL, never its password."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"


class PostgresStore(
    PostgresPlatformStore, PostgresVersionStore, PostgresRulesStore, PostgresOAuthStore
):
    """The Store Protocol on PostgreSQL."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

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
        row = await self._fetchone("SELECT to_regclass('schema_migrations') IS NOT NULL", ())
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

    async def _fetchone(self, query: str, params: Sequence[Any]) -> Any:
        async with self._pool.connection() as conn:
            cur = await conn.execute(query.encode(), params)
            return await cur.fetchone()

    async def _fetchall(self, query: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(query.encode(), params)
            rows: list[Any] = await cur.fetchall()
            return rows

    async def _execute(self, query: str, params: Sequence[Any]) -> int:
        async with self._pool.connection() as conn:
            cur = await conn.execute(query.encode(), params)
            count: int = cur.rowcount
            return count

    # -- credentials ----------------------------------------------------------

    async def get_credential(self, *, identity_id: str, name: str) -> CredentialRow | None:
        row = await self._fetchone(
            f"SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE identity_id = %s AND name = %s",
            (identity_id, name),
        )
        return None if row is None else _credential(row)

    async def list_credentials(
        self, *, identity_id: str, after_name: str | None, limit: int
    ) -> list[CredentialListing]:
        rows = await self._fetchall(
            f"SELECT {LISTING_COLUMNS} FROM credentials WHERE identity_id = %s AND name > %s "
            'ORDER BY name COLLATE "C" LIMIT %s',
            (identity_id, after_name or "", limit),
        )
        return [_listing(r) for r in rows]

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
        for _ in range(_CREATE_RACE_RETRIES):
            try:
                return await self._modify_once(
                    identity_id, name, change, audit, max_credentials, version_note
                )
            except _LostCreateRace:
                continue
        raise ServerError("Could not store the credential under contention; retry.")

    async def _modify_once(
        self,
        identity_id: str,
        name: str,
        change: Callable[[CredentialRow | None], tuple[CredentialRow, T]],
        audit: AuditEvent | None,
        max_credentials: int | None = None,
        version_note: VersionNote | None = None,
    ) -> T:
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                f"SELECT {CREDENTIAL_COLUMNS} FROM credentials "
                "WHERE identity_id = %s AND name = %s FOR UPDATE".encode(),
                (identity_id, name),
            )
            found = await cur.fetchone()
            existing = None if found is None else _credential(found)
            if existing is None and max_credentials is not None:
                # The identity's row lock serialises its creates (on every server), so the
                # count below includes every create committed before this one.
                await conn.execute(_LOCK_IDENTITY, (identity_id,))
                cur = await conn.execute(_COUNT_CREDENTIALS, (identity_id,))
                (count,) = await cur.fetchone() or (0,)
                check_credential_limit(int(count), max_credentials)
            new, result = change(existing)
            if version_note is not None:
                await self._keep_version(conn, new, version_note)
            if existing is None:
                cur = await conn.execute(_INSERT_CREDENTIAL, credential_values(new))
                if cur.rowcount == 0:
                    raise _LostCreateRace()
            else:
                await conn.execute(
                    _UPDATE_CREDENTIAL, credential_update_values(new, existing.credential_id)
                )
            if audit is not None:
                await conn.execute(_INSERT_AUDIT, audit.values())
            return result

    async def delete_credential(
        self,
        *,
        identity_id: str,
        name: str,
        audit: AuditEvent | None = None,
        deletion: DeletionNote | None = None,
    ) -> bool:
        async with self._pool.connection() as conn, conn.transaction():
            deleted = await self._bury(conn, identity_id, name, deletion)
            if deleted and audit is not None:
                await conn.execute(_INSERT_AUDIT, audit.values())
            return deleted

    async def identities_owning(self, *, name: str, except_identity: str) -> list[str]:
        rows = await self._fetchall(
            "SELECT identity_id FROM credentials WHERE name = %s AND identity_id != %s",
            (name, except_identity),
        )
        return [identity_id for (identity_id,) in rows]

    async def append_audit_events(self, *, events: Sequence[AuditEvent]) -> None:
        async with self._pool.connection() as conn, conn.cursor() as cur:
            await cur.executemany(_INSERT_AUDIT, [event.values() for event in events])

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
            "%s",
            identity_id=identity_id,
            action=action,
            before=before,
            limit=limit,
            since=since,
            until=until,
        )
        return [(row[0], AuditEvent(*row[1:])) for row in await self._fetchall(sql, params)]

    async def prune_audit_events(self, *, before: int, limit: int) -> int:
        return await self._execute(audit_prune_sql("%s"), (before, limit))

    async def ping(self) -> None:
        await self._fetchone("SELECT 1", ())

    async def record_last_used(self, *, last_used: Mapping[str, int]) -> None:
        if not last_used:
            return
        await self._execute(
            "UPDATE credentials AS c SET last_used_at = v.at "
            "FROM (SELECT unnest(%s::text[]) AS id, unnest(%s::bigint[]) AS at) AS v "
            "WHERE c.credential_id = v.id AND (c.last_used_at IS NULL OR c.last_used_at < v.at)",
            (list(last_used), list(last_used.values())),
        )

    async def count_credentials(self, *, identity_id: str) -> int:
        (count,) = await self._fetchone(
            "SELECT count(*) FROM credentials WHERE identity_id = %s", (identity_id,)
        )
        return int(count)

    # -- identities and keys ------------------------------------------------------

    async def create_identity(self, *, identity: IdentityRow, api_key: ApiKeyRow) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            try:
                await conn.execute(
                    b"INSERT INTO identities (identity_id, name, created_at, purpose) "
                    b"VALUES (%s, %s, %s, %s)",
                    (identity.identity_id, identity.name, identity.created_at, identity.purpose),
                )
            except pg_errors.UniqueViolation:
                raise ConflictError(
                    f"An identity named {identity.name!r} already exists.", code="identity_exists"
                ) from None
            await _insert_key(conn, api_key)

    async def add_api_key(self, *, api_key: ApiKeyRow) -> None:
        async with self._pool.connection() as conn:
            await _insert_key(conn, api_key)

    async def find_api_key(self, *, key_hash: bytes) -> ApiKeyRow | None:
        row = await self._fetchone(
            f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = %s", (key_hash,)
        )
        return None if row is None else _api_key(row)

    async def get_identity(self, *, name: str) -> IdentityRow | None:
        row = await self._fetchone(
            "SELECT identity_id, name, created_at FROM identities WHERE name = %s", (name,)
        )
        return None if row is None else IdentityRow(*row)

    async def get_identity_by_id(self, *, identity_id: str) -> IdentityRow | None:
        row = await self._fetchone(
            f"SELECT {IDENTITY_COLUMNS} FROM identities WHERE identity_id = %s", (identity_id,)
        )
        return None if row is None else IdentityRow(*row)

    async def record_identity_usage(self, *, usage: Mapping[str, tuple[int, int]]) -> None:
        if not usage:
            return
        ids = list(usage)
        await self._execute(
            "UPDATE identities AS i SET usage_count = i.usage_count + v.n, "
            "last_used_at = greatest(coalesce(i.last_used_at, 0), v.at) "
            "FROM (SELECT unnest(%s::text[]) AS id, unnest(%s::bigint[]) AS n, "
            "unnest(%s::bigint[]) AS at) AS v WHERE i.identity_id = v.id",
            (ids, [usage[i][0] for i in ids], [usage[i][1] for i in ids]),
        )

    async def list_identities(self) -> Sequence[tuple[IdentityRow, Sequence[ApiKeyRow]]]:
        identities = [
            IdentityRow(*r)
            for r in await self._fetchall(
                'SELECT identity_id, name, created_at FROM identities ORDER BY name COLLATE "C"'
            )
        ]
        keys: dict[str, list[ApiKeyRow]] = {}
        for r in await self._fetchall(
            f"SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY created_at"
        ):
            key = _api_key(r)
            keys.setdefault(key.identity_id, []).append(key)
        return [(i, keys.get(i.identity_id, [])) for i in identities]

    async def revoke_api_keys(
        self, *, identity_id: str | None = None, prefix: str | None = None, at: int
    ) -> int:
        column, value = ("identity_id", identity_id) if identity_id else ("prefix", prefix)
        return await self._execute(
            f"UPDATE api_keys SET revoked_at = %s WHERE {column} = %s AND revoked_at IS NULL",
            (at, value),
        )

    async def expire_api_keys(self, *, identity_id: str, at: int, keep: bytes) -> int:
        return await self._execute(
            "UPDATE api_keys SET expires_at = %s WHERE identity_id = %s AND key_hash != %s "
            "AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > %s)",
            (at, identity_id, keep, at),
        )

    async def count_identities(self) -> int:
        (count,) = await self._fetchone("SELECT count(*) FROM identities", ())
        return int(count)

    async def master_key_ids(self) -> set[str]:
        return {k for (k,) in await self._fetchall("SELECT DISTINCT key_id FROM credentials")}

    async def add_key_wraps(self, *, counts: Mapping[str, int]) -> None:
        async with self._pool.connection() as conn, conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO master_key_usage (key_id, wraps) VALUES (%s, %s) "
                "ON CONFLICT (key_id) DO UPDATE "
                "SET wraps = master_key_usage.wraps + excluded.wraps",
                list(counts.items()),
            )

    async def key_wraps(self) -> dict[str, int]:
        rows = await self._fetchall("SELECT key_id, wraps FROM master_key_usage")
        return {key_id: int(wraps) for key_id, wraps in rows}

    async def count_by_key_id(self) -> dict[str, int]:
        rows = await self._fetchall("SELECT key_id, count(*) FROM credentials GROUP BY key_id")
        return {key_id: int(count) for key_id, count in rows}

    async def rows_wrapped_by_other_keys(
        self, *, key_id: str, limit: int, after: str | None = None
    ) -> list[CredentialRow]:
        rows = await self._fetchall(
            f"SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE key_id != %s "
            "AND credential_id > %s ORDER BY credential_id LIMIT %s",
            (key_id, after or "", limit),
        )
        return [_credential(r) for r in rows]

    async def replace_wrapped_key(
        self, *, credential_id: str, version: int, old_key_id: str, key_id: str, wrapped_key: bytes
    ) -> bool:
        count = await self._execute(
            "UPDATE credentials SET key_id = %s, wrapped_key = %s "
            "WHERE credential_id = %s AND version = %s AND key_id = %s",
            (key_id, wrapped_key, credential_id, version, old_key_id),
        )
        return count == 1

    async def rows_sealed_in_format_1(
        self, *, limit: int, after: str | None = None
    ) -> list[CredentialRow]:
        rows = await self._fetchall(
            f"SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE octet_length(nonce) = 12 "
            "AND credential_id > %s ORDER BY credential_id LIMIT %s",
            (after or "", limit),
        )
        return [_credential(r) for r in rows]

    async def replace_sealed(
        self, *, credential_id: str, version: int, old_nonce: bytes, sealed: SealedData
    ) -> bool:
        count = await self._execute(
            "UPDATE credentials SET key_id = %s, wrapped_key = %s, nonce = %s, ciphertext = %s "
            "WHERE credential_id = %s AND version = %s AND nonce = %s",
            (*sealed_values(sealed), credential_id, version, old_nonce),
        )
        return count == 1

    async def claim_master_key(self, *, key_id: str, at: int) -> str:
        async with self._pool.connection() as conn:
            # A second server's INSERT waits for the first one's commit, then does
            # nothing; the SELECT (a new snapshot) sees the winner's row.
            await conn.execute(
                b"INSERT INTO store_master_key (singleton, key_id, recorded_at) "
                b"VALUES (1, %s, %s) ON CONFLICT (singleton) DO NOTHING",
                (key_id, at),
            )
            cur = await conn.execute(b"SELECT key_id FROM store_master_key")
            row = await cur.fetchone()
        assert row is not None
        return str(row[0])

    async def move_master_key(self, *, key_id: str, at: int) -> None:
        await self._execute(
            "INSERT INTO store_master_key (singleton, key_id, recorded_at) VALUES (1, %s, %s) "
            "ON CONFLICT (singleton) DO UPDATE "
            "SET key_id = excluded.key_id, recorded_at = excluded.recorded_at",
            (key_id, at),
        )

    async def recorded_master_key(self) -> str | None:
        row = await self._fetchone("SELECT key_id FROM store_master_key", ())
        return None if row is None else str(row[0])

    # -- web console ---------------------------------------------------------------

    async def list_api_keys(self, *, identity_id: str) -> list[ApiKeyRow]:
        rows = await self._fetchall(
            f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE identity_id = %s", (identity_id,)
        )
        return [_api_key(r) for r in rows]

    async def create_console_session(self, *, session: ConsoleSessionRow, now: int) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(b"DELETE FROM console_sessions WHERE expires_at <= %s", (now,))
            await conn.execute(
                f"INSERT INTO console_sessions ({SESSION_COLUMNS}) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)".encode(),
                _values(session),
            )

    async def get_console_session(self, *, session_hash: bytes) -> ConsoleSessionRow | None:
        row = await self._fetchone(
            f"SELECT {SESSION_COLUMNS} FROM console_sessions WHERE session_hash = %s",
            (session_hash,),
        )
        if row is None:
            return None
        key_hash = None if row[3] is None else bytes(row[3])
        return ConsoleSessionRow(bytes(row[0]), row[1], row[2], key_hash, *row[4:])

    async def touch_console_session(self, *, session_hash: bytes, last_seen_at: int) -> None:
        await self._execute(
            "UPDATE console_sessions SET last_seen_at = %s "
            "WHERE session_hash = %s AND last_seen_at < %s",
            (last_seen_at, session_hash, last_seen_at),
        )

    async def delete_console_session(self, *, session_hash: bytes) -> None:
        await self._execute("DELETE FROM console_sessions WHERE session_hash = %s", (session_hash,))

    async def create_login_link(self, *, link: LoginLinkRow, now: int) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(b"DELETE FROM console_login_links WHERE expires_at <= %s", (now,))
            await conn.execute(
                f"INSERT INTO console_login_links ({LOGIN_LINK_COLUMNS}) "
                "VALUES (%s, %s, %s, %s, %s, %s)".encode(),
                _values(link),
            )

    async def consume_login_link(self, *, token_hash: bytes, now: int) -> LoginLinkRow | None:
        row = await self._fetchone(
            f"DELETE FROM console_login_links WHERE token_hash = %s RETURNING {LOGIN_LINK_COLUMNS}",
            (token_hash,),
        )
        if row is None or row[5] <= now:
            return None
        return LoginLinkRow(bytes(row[0]), *row[1:])


def _values(row: ConsoleSessionRow | LoginLinkRow) -> tuple[object, ...]:
    return dataclasses.astuple(row)


async def _insert_key(conn: psycopg.AsyncConnection[Any], key: ApiKeyRow) -> None:
    await conn.execute(
        f"INSERT INTO api_keys ({API_KEY_COLUMNS}) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)".encode(),
        api_key_values(key),
    )
