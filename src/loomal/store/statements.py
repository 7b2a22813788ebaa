"""Every statement the two stores share, written once per placeholder style.

``Statements("?")`` is SQLite's set, ``Statements("%s")`` PostgreSQL's; the few
places where the dialects really differ (collation of an ORDER BY, the name of
the byte-length function, a row lock, who numbers the audit log) are constructor
arguments, so a reader
sees each difference once, here, and nowhere else.
"""

from __future__ import annotations

import functools

from loomal.store import (
    API_KEY_COLUMNS,
    AUDIT_COLUMNS,
    CREDENTIAL_COLUMNS,
    IDENTITY_COLUMNS,
    LISTING_COLUMNS,
    LOGIN_LINK_COLUMNS,
    PLATFORM_KEY_COLUMNS,
    SESSION_COLUMNS,
    audit_insert_sql,
    audit_prune_sql,
    credential_insert_sql,
    credential_update_sql,
)

__all__ = ["PLATFORM_SESSION_COLUMNS", "POSTGRES", "SQLITE", "Statements"]

PLATFORM_SESSION_COLUMNS = "session_hash, key_hash, created_at, last_seen_at, expires_at"


def _marks(p: str, columns: str) -> str:
    return ", ".join([p] * len(columns.split(",")))


class Statements:
    """The SQL of one dialect. ``by_name`` orders text the same way on both
    (byte order); ``for_update`` locks a row read inside a write transaction
    (empty on SQLite, whose ``BEGIN IMMEDIATE`` already serialises writers)."""

    def __init__(
        self, p: str, *, by_name: str, byte_length: str, for_update: str, numbers_audit: bool
    ) -> None:
        self.p = p
        self.numbers_audit = numbers_audit
        self.for_update = for_update
        # -- credentials ---------------------------------------------------------
        select_credential = (
            f"SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE identity_id = {p} AND name = {p}"
        )
        self.get_credential = select_credential
        self.get_credential_for_update = select_credential + for_update
        self.list_credentials = (
            f"SELECT {LISTING_COLUMNS} FROM credentials WHERE identity_id = {p} AND name > {p} "
            f"ORDER BY {by_name} LIMIT {p}"
        )
        self.insert_credential = (
            credential_insert_sql(p) + " ON CONFLICT (identity_id, name) DO NOTHING"
        )
        self.update_credential = credential_update_sql(p)
        self.delete_credential = f"DELETE FROM credentials WHERE identity_id = {p} AND name = {p}"
        self.count_credentials = f"SELECT count(*) FROM credentials WHERE identity_id = {p}"
        self.lock_identity = (
            f"SELECT 1 FROM identities WHERE identity_id = {p}{for_update}" if for_update else ""
        )
        self.identities_owning = (
            f"SELECT identity_id FROM credentials WHERE name = {p} AND identity_id != {p}"
        )
        # -- audit -----------------------------------------------------------------
        # Each identity's log is numbered 1, 2, 3 (seq). PostgreSQL's writers run
        # at once, so a trigger takes the next number from a counter row they queue
        # on (0011). SQLite's writers take turns, so the INSERT reads the next number
        # itself, from the log's last row (an index lookup) or the floor that pruning
        # leaves in audit_sequences: a trigger's counter upsert and the rewrite of
        # the row it numbers cost more than the insert (0019 dropped them).
        self.insert_audit = _numbered_audit_insert() if numbers_audit else audit_insert_sql(p)
        self.next_audit_seq = f"SELECT {_NEXT_SEQ.format(identity='?1')}" if numbers_audit else ""
        self.keep_audit_floor = (
            "INSERT INTO audit_sequences (identity_id, last_seq) "
            "SELECT identity_id, max(seq) FROM audit_events WHERE event_id IN "
            f"(SELECT event_id FROM audit_events WHERE at < {p} ORDER BY at LIMIT {p}) "
            "AND identity_id IS NOT NULL GROUP BY identity_id "
            "ON CONFLICT (identity_id) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)"
            if numbers_audit
            else ""
        )
        self.prune_audit = audit_prune_sql(p)
        # -- identities and API keys -----------------------------------------------
        self.insert_identity = (
            f"INSERT INTO identities (identity_id, name, created_at, purpose) "
            f"VALUES ({p}, {p}, {p}, {p})"
        )
        self.insert_api_key = (
            f"INSERT INTO api_keys ({API_KEY_COLUMNS}) VALUES ({_marks(p, API_KEY_COLUMNS)})"
        )
        self.find_api_key = f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = {p}"
        self.identity_by_name = (
            f"SELECT identity_id, name, created_at FROM identities WHERE name = {p}"
        )
        self.identity_by_id = f"SELECT {IDENTITY_COLUMNS} FROM identities WHERE identity_id = {p}"
        self.all_identities = (
            f"SELECT identity_id, name, created_at FROM identities ORDER BY {by_name}"
        )
        self.all_api_keys = f"SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY created_at"
        self.api_keys_of = f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE identity_id = {p}"
        self.revoke_api_keys_by = {
            column: f"UPDATE api_keys SET revoked_at = {p} "
            f"WHERE {column} = {p} AND revoked_at IS NULL"
            for column in ("identity_id", "prefix")
        }
        self.expire_api_keys = (
            f"UPDATE api_keys SET expires_at = {p} WHERE identity_id = {p} AND key_hash != {p} "
            f"AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > {p})"
        )
        self.count_identities = "SELECT count(*) FROM identities"
        # -- master keys -----------------------------------------------------------
        self.master_key_ids = "SELECT DISTINCT key_id FROM credentials"
        self.add_key_wraps = (
            f"INSERT INTO master_key_usage (key_id, wraps) VALUES ({p}, {p}) "
            "ON CONFLICT (key_id) DO UPDATE SET wraps = master_key_usage.wraps + excluded.wraps"
        )
        self.key_wraps = "SELECT key_id, wraps FROM master_key_usage"
        self.count_by_key_id = "SELECT key_id, count(*) FROM credentials GROUP BY key_id"
        self.rows_wrapped_by_other_keys = (
            f"SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE key_id != {p} "
            f"AND credential_id > {p} ORDER BY credential_id LIMIT {p}"
        )
        self.replace_wrapped_key = (
            f"UPDATE credentials SET key_id = {p}, wrapped_key = {p} "
            f"WHERE credential_id = {p} AND version = {p} AND key_id = {p}"
        )
        self.rows_sealed_in_format_1 = (
            f"SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE {byte_length}(nonce) = 12 "
            f"AND credential_id > {p} ORDER BY credential_id LIMIT {p}"
        )
        self.replace_sealed = (
            f"UPDATE credentials SET key_id = {p}, wrapped_key = {p}, nonce = {p}, "
            f"ciphertext = {p} WHERE credential_id = {p} AND version = {p} AND nonce = {p}"
        )
        self.claim_master_key = (
            "INSERT INTO store_master_key (singleton, key_id, recorded_at) "
            f"VALUES (1, {p}, {p}) ON CONFLICT (singleton) DO NOTHING"
        )
        self.move_master_key = (
            "INSERT INTO store_master_key (singleton, key_id, recorded_at) "
            f"VALUES (1, {p}, {p}) ON CONFLICT (singleton) DO UPDATE "
            "SET key_id = excluded.key_id, recorded_at = excluded.recorded_at"
        )
        self.recorded_master_key = "SELECT key_id FROM store_master_key"
        # -- web console -------------------------------------------------------------
        self.drop_expired_console_sessions = f"DELETE FROM console_sessions WHERE expires_at <= {p}"
        self.insert_console_session = (
            f"INSERT INTO console_sessions ({SESSION_COLUMNS}) "
            f"VALUES ({_marks(p, SESSION_COLUMNS)})"
        )
        self.get_console_session = (
            f"SELECT {SESSION_COLUMNS} FROM console_sessions WHERE session_hash = {p}"
        )
        self.touch_console_session = (
            f"UPDATE console_sessions SET last_seen_at = {p} "
            f"WHERE session_hash = {p} AND last_seen_at < {p}"
        )
        self.delete_console_session = f"DELETE FROM console_sessions WHERE session_hash = {p}"
        self.drop_expired_login_links = f"DELETE FROM console_login_links WHERE expires_at <= {p}"
        self.insert_login_link = (
            f"INSERT INTO console_login_links ({LOGIN_LINK_COLUMNS}) "
            f"VALUES ({_marks(p, LOGIN_LINK_COLUMNS)})"
        )
        self.consume_login_link = (
            f"DELETE FROM console_login_links WHERE token_hash = {p} RETURNING {LOGIN_LINK_COLUMNS}"
        )
        # -- platform API ------------------------------------------------------------
        self.insert_platform_key = (
            f"INSERT INTO platform_keys ({PLATFORM_KEY_COLUMNS}) "
            f"VALUES ({_marks(p, PLATFORM_KEY_COLUMNS)})"
        )
        self.find_platform_key = (
            f"SELECT {PLATFORM_KEY_COLUMNS} FROM platform_keys WHERE key_hash = {p}"
        )
        self.list_platform_keys = (
            f"SELECT {PLATFORM_KEY_COLUMNS} FROM platform_keys ORDER BY created_at"
        )
        self.revoke_platform_keys_by = {
            column: f"UPDATE platform_keys SET revoked_at = {p} "
            f"WHERE {column} = {p} AND revoked_at IS NULL"
            for column in ("name", "prefix")
        }
        self.first_identity_page = (
            f"SELECT {IDENTITY_COLUMNS} FROM identities ORDER BY created_at, identity_id LIMIT {p}"
        )
        self.next_identity_page = (
            f"SELECT {IDENTITY_COLUMNS} FROM identities "
            f"WHERE created_at > {p} OR (created_at = {p} AND identity_id > {p}) "
            f"ORDER BY created_at, identity_id LIMIT {p}"
        )
        self.rename_identity = f"UPDATE identities SET name = {p} WHERE identity_id = {p}"
        self.set_api_key_scopes = (
            f"UPDATE api_keys SET scopes = {p} WHERE identity_id = {p} AND revoked_at IS NULL"
        )
        self.delete_identity = f"DELETE FROM identities WHERE identity_id = {p}"
        self.drop_expired_platform_sessions = (
            f"DELETE FROM platform_sessions WHERE expires_at <= {p}"
        )
        self.insert_platform_session = (
            f"INSERT INTO platform_sessions ({PLATFORM_SESSION_COLUMNS}) "
            f"VALUES ({_marks(p, PLATFORM_SESSION_COLUMNS)})"
        )
        self.get_platform_session = (
            f"SELECT {PLATFORM_SESSION_COLUMNS} FROM platform_sessions WHERE session_hash = {p}"
        )
        self.touch_platform_session = (
            f"UPDATE platform_sessions SET last_seen_at = {p} "
            f"WHERE session_hash = {p} AND last_seen_at < {p}"
        )
        self.delete_platform_session = f"DELETE FROM platform_sessions WHERE session_hash = {p}"

    @functools.cache  # noqa: B019 - two instances for the process's life, a handful of sizes
    def insert_audit_rows(self, count: int) -> str:
        """One INSERT of ``count`` audit rows (the SQL of each size is built once);
        where the store numbers the log, each row's values end with its seq."""
        if self.numbers_audit:
            marks = ", ".join([self.p] * (len(AUDIT_COLUMNS.split(",")) + 1))
            rows = ", ".join([f"({marks})"] * count)
            return f"INSERT INTO audit_events ({AUDIT_COLUMNS}, seq) VALUES {rows}"
        return audit_insert_sql(self.p, rows=count)


_NEXT_SEQ = (
    "1 + max(coalesce((SELECT max(seq) FROM audit_events WHERE identity_id = {identity}), 0), "
    "coalesce((SELECT last_seq FROM audit_sequences WHERE identity_id = {identity}), 0))"
)
"""The next number of one identity's audit log (SQLite: read inside the writer's
transaction, so no other writer can take it meanwhile)."""


def _numbered_audit_insert() -> str:
    """One audit event, numbered in the statement (SQLite's numbered parameters:
    ``?2``, the identity, is read again for its seq; no identity, no seq)."""
    count = len(AUDIT_COLUMNS.split(","))
    marks = ", ".join(f"?{n}" for n in range(1, count + 1))
    seq = f"CASE WHEN ?2 IS NULL THEN NULL ELSE {_NEXT_SEQ.format(identity='?2')} END"
    return f"INSERT INTO audit_events ({AUDIT_COLUMNS}, seq) VALUES ({marks}, {seq})"


SQLITE = Statements("?", by_name="name", byte_length="length", for_update="", numbers_audit=True)
POSTGRES = Statements(
    "%s",
    by_name='name COLLATE "C"',
    byte_length="octet_length",
    for_update=" FOR UPDATE",
    numbers_audit=False,
)
