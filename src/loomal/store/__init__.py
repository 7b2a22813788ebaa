"""Store implementations (embedded SQLite, PostgreSQL) and the schema they share.

Both dialects have the same tables and columns; what differs (placeholders,
locking, connection handling) stays in each module.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from loomal.core.crypto import SealedData
from loomal.core.ports import ApiKeyRow, CredentialRow

__all__ = [
    "API_KEY_COLUMNS",
    "AUDIT_COLUMNS",
    "CREDENTIAL_COLUMNS",
    "IDENTITY_COLUMNS",
    "LISTING_COLUMNS",
    "LOGIN_LINK_COLUMNS",
    "PLATFORM_KEY_COLUMNS",
    "SESSION_COLUMNS",
    "api_key_values",
    "audit_insert_sql",
    "audit_prune_sql",
    "audit_query",
    "credential_insert_sql",
    "credential_update_sql",
    "credential_update_values",
    "credential_values",
    "load_migrations",
    "sealed_values",
]

LISTING_COLUMNS = (  # CredentialListing's fields, in order
    "credential_id, name, type, metadata, expires_at, created_at, updated_at, last_used_at, "
    "last_rotated_at, version"
)
CREDENTIAL_COLUMNS = (  # CredentialRow's: the listing's, then the rest
    f"{LISTING_COLUMNS}, identity_id, key_id, wrapped_key, nonce, ciphertext"
)
IDENTITY_COLUMNS = "identity_id, name, created_at, usage_count, last_used_at, purpose"
PLATFORM_KEY_COLUMNS = "key_hash, name, prefix, created_at, revoked_at"
API_KEY_COLUMNS = "key_hash, identity_id, prefix, scopes, created_at, expires_at, revoked_at, label"
SESSION_COLUMNS = (
    "session_hash, identity_id, identity_name, key_hash, scopes, created_at, last_seen_at, "
    "expires_at"
)
LOGIN_LINK_COLUMNS = "token_hash, identity_id, identity_name, scopes, created_at, expires_at"
AUDIT_COLUMNS = (
    "at, identity_id, actor_identity_id, key_prefix, action, credential_name, outcome, client, "
    "detail, occurrences, key_label, operator"
)


def audit_insert_sql(placeholder: str, *, rows: int = 1) -> str:
    """INSERT of ``rows`` audit events (their values in AUDIT_COLUMNS order, row by row)."""
    marks = ", ".join([placeholder] * len(AUDIT_COLUMNS.split(",")))
    return f"INSERT INTO audit_events ({AUDIT_COLUMNS}) VALUES " + ", ".join([f"({marks})"] * rows)


def audit_query(
    placeholder: str,
    *,
    identity_id: str | None,
    action: str | None,
    before: int | None,
    limit: int,
    since: int | None = None,
    until: int | None = None,
) -> tuple[str, list[Any]]:
    """Newest-first page of audit events (in the order they were written), filtered
    (``since`` <= at < ``until``), strictly before the id ``before``; SQL and
    parameters. One identity's log is numbered by its own ``seq`` (ids that say
    nothing of other logs); the whole log, across identities, by ``event_id``."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("identity_id", identity_id), ("action", action)):
        if value is not None:
            clauses.append(f"{column} = {placeholder}")
            params.append(value)
    for clause, bound in (("at >= ", since), ("at < ", until)):
        if bound is not None:
            clauses.append(f"{clause}{placeholder}")
            params.append(bound)
    id_column = "event_id" if identity_id is None else "seq"
    if before is not None:
        clauses.append(f"{id_column} < {placeholder}")
        params.append(before)
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    params.append(limit)
    sql = (
        f"SELECT {id_column}, {AUDIT_COLUMNS} FROM audit_events {where}"
        f"ORDER BY {id_column} DESC LIMIT {placeholder}"
    )
    return sql, params


def audit_prune_sql(placeholder: str) -> str:
    """Delete up to a batch of events older than a time (the oldest first)."""
    return (
        "DELETE FROM audit_events WHERE event_id IN (SELECT event_id FROM audit_events "
        f"WHERE at < {placeholder} ORDER BY at LIMIT {placeholder})"
    )


_UPDATED_COLUMNS = (
    "type", "metadata", "expires_at", "updated_at", "last_used_at",
    "version", "key_id", "wrapped_key", "nonce", "ciphertext", "last_rotated_at",
)  # fmt: skip


def load_migrations(dialect: str) -> list[tuple[int, str]]:
    """The numbered ``NNNN_name.sql`` files of a dialect, in order.

    SQLite runs them statement by statement, split on the ``;`` that end a
    complete statement (so that a migration stays inside the caller's
    transaction): no ``;`` in comments.
    """
    folder = resources.files("loomal.store") / "migrations" / dialect
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text("utf-8")))
    return sorted(found)


def sealed_values(sealed: SealedData) -> tuple[str, bytes, bytes, bytes]:
    """(key_id, wrapped_key, nonce, ciphertext): the columns a reseal replaces."""
    return (sealed.key_id, sealed.wrapped_key, sealed.nonce, sealed.ciphertext)


def credential_values(row: CredentialRow) -> tuple[Any, ...]:
    """The row's values in CREDENTIAL_COLUMNS order."""
    return (
        row.credential_id,
        row.name,
        row.type,
        row.metadata_json,
        row.expires_at,
        row.created_at,
        row.updated_at,
        row.last_used_at,
        row.last_rotated_at,
        row.version,
        row.identity_id,
        row.key_id,
        row.wrapped_key,
        row.nonce,
        row.ciphertext,
    )


def credential_insert_sql(placeholder: str) -> str:
    marks = ", ".join([placeholder] * len(CREDENTIAL_COLUMNS.split(",")))
    return f"INSERT INTO credentials ({CREDENTIAL_COLUMNS}) VALUES ({marks})"


def credential_update_sql(placeholder: str) -> str:
    """UPDATE of everything a write may change; identity, name, id and createdAt never move."""
    assignments = ", ".join(f"{column} = {placeholder}" for column in _UPDATED_COLUMNS)
    return f"UPDATE credentials SET {assignments} WHERE credential_id = {placeholder}"


def credential_update_values(new: CredentialRow, credential_id: str) -> tuple[Any, ...]:
    """Parameters of :func:`credential_update_sql`."""
    return (
        new.type,
        new.metadata_json,
        new.expires_at,
        new.updated_at,
        new.last_used_at,
        new.version,
        new.key_id,
        new.wrapped_key,
        new.nonce,
        new.ciphertext,
        new.last_rotated_at,
        credential_id,
    )


def api_key_values(key: ApiKeyRow) -> tuple[Any, ...]:
    """The key's values in API_KEY_COLUMNS order."""
    return (
        key.key_hash,
        key.identity_id,
        key.prefix,
        key.scopes,
        key.created_at,
        key.expires_at,
        key.revoked_at,
        key.label,
    )
