"""``loomal admin verify``: open every stored credential with the master keys.

Opening a credential checks both layers: the data key unwraps under its master
key (bound to the key id, identity, credential id, name and version) and the
ciphertext opens under that data key (bound to those and to type, expiry and
metadata). A row copied, altered or restored with a changed bound value fails
here. Rows are read in batches, each batch in a short read transaction of its
own, so a running server is never held back; what fails is named by identity
and credential name, never by anything it holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from loomal.core.crypto import Binding, Keyring, SealedData
from loomal.errors import IntegrityError
from loomal.store.backup_sql import StoreLocation, open_reader

__all__ = ["VerifyFailure", "VerifyReport", "verify_store"]

_BATCH_QUERY = (
    "SELECT c.credential_id, c.identity_id, c.name, c.version, c.type, c.metadata, "
    "c.expires_at, c.key_id, c.wrapped_key, c.nonce, c.ciphertext, i.name "
    "FROM credentials c JOIN identities i ON i.identity_id = c.identity_id "
    "WHERE c.credential_id > %s ORDER BY c.credential_id LIMIT %s"
)


@dataclass(frozen=True, slots=True)
class VerifyFailure:
    identity: str
    credential: str
    reason: str


@dataclass(slots=True)
class VerifyReport:
    checked: int = 0
    by_key: Counter[str] = field(default_factory=Counter)
    failures: list[VerifyFailure] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return self.checked - len(self.failures)


def verify_store(
    location: StoreLocation,
    keyring: Keyring,
    *,
    batch_size: int = 500,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    report = VerifyReport()
    if on_start:
        reader = open_reader(location)
        try:
            on_start(reader.count("credentials"))
        finally:
            reader.close()
    after = ""
    while True:
        reader = open_reader(location)  # one short snapshot per batch
        try:
            batch = reader.query_all(_BATCH_QUERY, (after, batch_size))
        finally:
            reader.close()
        if not batch:
            return report
        for row in batch:
            (cid, identity_id, name, version, kind, metadata, expires_at) = row[:7]
            key_id, wrapped, nonce, ciphertext, identity_name = row[7:]
            report.checked += 1
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
            report.failures.append(VerifyFailure(identity_name, name, reason))
        after = batch[-1][0]
        if on_progress:
            on_progress(len(batch))
