"""``loomal admin verify``: open every stored credential with the master keys.

Opening a credential checks both layers: the data key unwraps under its master
key (bound to the key id, identity, credential id, name and version) and the
ciphertext opens under that data key (bound to those and to type, expiry and
metadata). A row copied, altered or restored with a changed bound value fails
here. Rows are read in batches, each batch in a short read transaction of its
own, so a running server is never held back; what fails is named by identity
and credential name, never by anything it holds.

Every table holding sealed data is listed in :data:`SEALED_TABLES`: the
credentials, and the kept versions of each (sealed the same way, under the
same binding) where the store has them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loomal.core.crypto import Binding, Keyring, SealedData
from loomal.errors import IntegrityError
from loomal.store.backup_sql import StoreLocation, open_reader

__all__ = ["SEALED_TABLES", "SealedTable", "VerifyFailure", "VerifyReport", "verify_store"]

_COLUMNS = (
    "c.credential_id, c.version, c.identity_id, c.name, c.type, c.metadata, c.expires_at, "
    "c.key_id, c.wrapped_key, c.nonce, c.ciphertext, i.name"
)


@dataclass(frozen=True, slots=True)
class SealedTable:
    """A table of sealed rows, read in key order (its primary key's columns)."""

    name: str
    label: str
    """What its rows are, for the report: "credential", "kept version"."""
    key: tuple[str, ...]

    def batch_query(self) -> str:
        key = ", ".join(f"c.{column}" for column in self.key)
        marks = ", ".join(["%s"] * len(self.key))
        # table and column names come from SEALED_TABLES, never from input
        return (
            f"SELECT {_COLUMNS} FROM {self.name} c "  # noqa: S608
            "JOIN identities i ON i.identity_id = c.identity_id "
            f"WHERE ({key}) > ({marks}) ORDER BY {key} LIMIT %s"
        )

    def start(self) -> tuple[Any, ...]:
        return ("",) + (-1,) * (len(self.key) - 1)


SEALED_TABLES = (
    SealedTable("credentials", "credential", ("credential_id",)),
    SealedTable("credential_versions", "kept version", ("credential_id", "version")),
)


@dataclass(frozen=True, slots=True)
class VerifyFailure:
    identity: str
    credential: str
    reason: str
    version: int | None = None
    """Set for a kept version (not the current row)."""

    @property
    def what(self) -> str:
        where = f"{self.identity}/{self.credential}"
        return where if self.version is None else f"{where} (kept version {self.version})"


@dataclass(slots=True)
class VerifyReport:
    checked: Counter[str] = field(default_factory=Counter)
    """Rows checked, by table label."""
    by_key: Counter[str] = field(default_factory=Counter)
    failures: list[VerifyFailure] = field(default_factory=list)

    def failed(self, label: str) -> int:
        versions = label != "credential"
        return sum(1 for f in self.failures if (f.version is not None) == versions)


def verify_store(
    location: StoreLocation,
    keyring: Keyring,
    *,
    batch_size: int = 500,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    reader = open_reader(location)
    try:
        present = set(reader.tables())
        tables = [t for t in SEALED_TABLES if t.name in present]
        if on_start:
            on_start(sum(reader.count(t.name) for t in tables))
    finally:
        reader.close()
    report = VerifyReport()
    for table in tables:
        _verify_table(location, keyring, table, report, batch_size, on_progress)
    return report


def _verify_table(
    location: StoreLocation,
    keyring: Keyring,
    table: SealedTable,
    report: VerifyReport,
    batch_size: int,
    on_progress: Callable[[int], None] | None,
) -> None:
    after = table.start()
    query = table.batch_query()
    report.checked[table.label] += 0
    while True:
        reader = open_reader(location)  # one short snapshot per batch
        try:
            batch = reader.query_all(query, (*after, batch_size))
        finally:
            reader.close()
        if not batch:
            return
        for row in batch:
            (cid, version, identity_id, name, kind, metadata, expires_at) = row[:7]
            key_id, wrapped, nonce, ciphertext, identity_name = row[7:]
            report.checked[table.label] += 1
            report.by_key[key_id] += 1
            if key_id not in keyring.key_ids:
                reason = f"wrapped by master key {key_id}, which is not held"
            else:
                binding = Binding(identity_id, cid, name, version, kind, metadata, expires_at)
                try:
                    keyring.open(SealedData(key_id, wrapped, nonce, ciphertext), binding)
                    continue
                except IntegrityError:
                    reason = "integrity check failed"
            kept = None if table.name == "credentials" else version
            report.failures.append(VerifyFailure(identity_name, name, reason, kept))
        last = batch[-1]
        after = (last[0],) if len(table.key) == 1 else (last[0], last[1])
        if on_progress:
            on_progress(len(batch))
