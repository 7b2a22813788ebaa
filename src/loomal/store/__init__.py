"""Store implementations (embedded SQLite, PostgreSQL) and the schema they share.

Both dialects have the same tables and columns; what differs (placeholders,
locking, connection handling) stays in each module.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from loomal.core.store import ApiKeyRow, CredentialRow

__all__ = [
    "API_KEY_COLUMNS",
    "CREDENTIAL_COLUMNS",
    "api_key_values",
    "credential_update_sql",
    "credential_update_values",
    "credential_values",
    "load_migrations",
]

CREDENTIAL_COLUMNS = (
    "credential_id, identity_id, name, type, metadata, expires_at, created_at, updated_at, "
    "last_used_at, version, key_id, wrapped_key, nonce, ciphertext"
)
API_KEY_COLUMNS = "key_hash, identity_id, prefix, scopes, created_at, expires_at, revoked_at"
_UPDATED_COLUMNS = (
    "type", "metadata", "expires_at", "updated_at", "last_used_at",
    "version", "key_id", "wrapped_key", "nonce", "ciphertext",
)  # fmt: skip


def load_migrations(dialect: str) -> list[tuple[int, str]]:
    """The numbered ``NNNN_name.sql`` files of a dialect, in order."""
    folder = resources.files("loomal.store") / "migrations" / dialect
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text("utf-8")))
    return sorted(found)


def credential_values(row: CredentialRow) -> tuple[Any, ...]:
    """The row's values in CREDENTIAL_COLUMNS order."""
    return (
        row.credential_id,
        row.identity_id,
        row.name,
        row.type,
        row.metadata_json,
        row.expires_at,
        row.created_at,
        row.updated_at,
        row.last_used_at,
        row.version,
        row.key_id,
        row.wrapped_key,
        row.nonce,
        row.ciphertext,
    )


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
    )
