"""Which tables a backup carries, in the order a restore inserts them.

A new table is one line here. A table the store has but this list does not
name stops every backup with an error naming it, so data is never left out
silently; ``tests/backup/test_tables.py`` fails first, on the migrated schema.
Columns are not listed: a backup carries every column a table has, by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["SCHEMA_TABLE", "TABLES", "Carried", "TableSpec", "carried_tables", "unknown_tables"]


class Carried(Enum):
    ALWAYS = "always"
    AUDIT = "audit"
    """Carried unless ``--no-audit``."""
    NEVER = "never"
    """Short-lived sign-in state: a restored vault asks people to sign in again."""


@dataclass(frozen=True, slots=True)
class TableSpec:
    name: str
    carried: Carried
    key_id_column: str | None = None
    """A column naming the master key a row needs (the backup lists them all)."""


TABLES: tuple[TableSpec, ...] = (  # parents before children (foreign keys)
    TableSpec("identities", Carried.ALWAYS),
    TableSpec("api_keys", Carried.ALWAYS),
    TableSpec("credentials", Carried.ALWAYS, key_id_column="key_id"),
    TableSpec("credential_versions", Carried.ALWAYS, key_id_column="key_id"),
    TableSpec("credential_tombstones", Carried.ALWAYS),
    TableSpec("platform_keys", Carried.ALWAYS),
    TableSpec("master_key_usage", Carried.ALWAYS),
    TableSpec("store_master_key", Carried.ALWAYS, key_id_column="key_id"),
    # Request rules: spent budgets and decided approvals survive a restore, so a
    # restore neither refills a budget nor revives a used approval.
    TableSpec("request_budgets", Carried.ALWAYS),
    TableSpec("approvals", Carried.NEVER),  # in flight: not carried (issue 30)
    # Webhook events tell of approvals and requests in flight: not carried either.
    TableSpec("webhook_outbox", Carried.NEVER),
    # Agents' asks for credentials: a record people answer over days (no secret)
    TableSpec("access_requests", Carried.ALWAYS),
    TableSpec("audit_events", Carried.AUDIT),
    # Each log's last event number: rebuilt by audit_events' trigger as a restore
    # inserts the events (each with its own number), so never carried itself.
    TableSpec("audit_sequences", Carried.NEVER),
    TableSpec("console_sessions", Carried.NEVER),
    TableSpec("console_login_links", Carried.NEVER),
    TableSpec("platform_sessions", Carried.NEVER),
    TableSpec("oauth_leases", Carried.NEVER),  # who refreshes now: moot in a restored vault
    TableSpec("oauth_connect_states", Carried.NEVER),  # connect flows under way (10 minutes)
)
SCHEMA_TABLE = "schema_migrations"
"""Not carried as rows: the target's own migrations write it; the manifest keeps
the version."""


def carried_tables(*, audit: bool) -> list[TableSpec]:
    wanted = {Carried.ALWAYS, Carried.AUDIT} if audit else {Carried.ALWAYS}
    return [spec for spec in TABLES if spec.carried in wanted]


def unknown_tables(present: list[str]) -> list[str]:
    """Tables of a store that this list does not classify."""
    known = {spec.name for spec in TABLES} | {SCHEMA_TABLE}
    return sorted(set(present) - known)
