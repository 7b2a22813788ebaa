"""Each service runs on a small in-memory fake of its one port (core/ports.py): no
database, no HTTP. What these prove is the seam: a service needs its slice only."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar, cast

import pytest

from loomal.core.audit import AuditLog
from loomal.core.crypto import Keyring
from loomal.core.keys import KeyManager, StaticKeySource
from loomal.core.limits import check_credential_limit
from loomal.core.models import StoreRequest
from loomal.core.ports import (
    AuditEvent,
    AuditStore,
    CredentialListing,
    CredentialRow,
    KeyLedger,
    VersionedCredentialStore,
)
from loomal.core.principals import Principal, Scope
from loomal.core.service import VaultService
from loomal.core.version_store import DeletionNote, TombstoneRow, VersionNote, VersionRow
from loomal.errors import ConflictError, NotFoundError

T = TypeVar("T")


class MemoryCredentials:
    """CredentialStore on a dict; one lock stands for the store's write transaction."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], CredentialRow] = {}
        self.last_used: dict[str, int] = {}
        self._lock = asyncio.Lock()

    async def get_credential(self, *, identity_id: str, name: str) -> CredentialRow | None:
        return self.rows.get((identity_id, name))

    async def list_credentials(
        self, *, identity_id: str, after_name: str | None, limit: int
    ) -> list[CredentialListing]:
        names = sorted(n for i, n in self.rows if i == identity_id and n > (after_name or ""))
        return [self.rows[identity_id, n] for n in names[:limit]]

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
        async with self._lock:
            existing = self.rows.get((identity_id, name))
            if existing is None and max_credentials is not None:
                check_credential_limit(
                    await self.count_credentials(identity_id=identity_id), max_credentials
                )
            new, result = change(existing)
            self.rows[identity_id, name] = new
            return result

    async def delete_credential(
        self,
        *,
        identity_id: str,
        name: str,
        audit: AuditEvent | None = None,
        deletion: DeletionNote | None = None,
    ) -> bool:
        return self.rows.pop((identity_id, name), None) is not None

    # history: none kept (VersionStore, the rest of VaultService's port)
    async def list_versions(self, *, identity_id: str, credential_id: str) -> list[VersionRow]:
        return []

    async def get_version(
        self, *, identity_id: str, credential_id: str, version: int
    ) -> VersionRow | None:
        return None

    async def list_deleted(self, *, identity_id: str) -> list[TombstoneRow]:
        return []

    async def find_deleted(self, *, identity_id: str, name: str) -> TombstoneRow | None:
        return None

    async def destroy_credential(
        self, *, identity_id: str, name: str, audit: AuditEvent | None = None
    ) -> int:
        return 0

    async def versions_wrapped_by_other_keys(
        self, *, key_id: str, limit: int, after: tuple[str, int] | None = None
    ) -> list[VersionRow]:
        return []

    async def replace_version_wrapped_key(
        self, *, credential_id: str, version: int, old_key_id: str, key_id: str, wrapped_key: bytes
    ) -> bool:
        return False

    async def count_versions_by_key_id(self) -> dict[str, int]:
        return {}

    async def destroy_deleted_before(self, *, before: int, limit: int) -> int:
        return 0

    async def record_last_used(self, *, last_used: Mapping[str, int]) -> None:
        self.last_used.update(last_used)

    async def count_credentials(self, *, identity_id: str) -> int:
        return sum(1 for i, _ in self.rows if i == identity_id)


class MemoryAudit:
    """AuditStore on a list."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []
        self.owners: dict[str, list[str]] = {}

    async def append_audit_events(self, *, events: Sequence[AuditEvent]) -> None:
        self.events.extend(events)

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
        mine = [e for e in self.events if identity_id is None or e.identity_id == identity_id]
        return list(reversed(list(enumerate(mine, 1))))[:limit]

    async def prune_audit_events(self, *, before: int, limit: int) -> int:
        return 0

    async def identities_owning(self, *, name: str, except_identity: str) -> list[str]:
        return [o for o in self.owners.get(name, []) if o != except_identity]


ALICE = Principal("id_alice", "loid-alice", frozenset({Scope.READ, Scope.WRITE}))
BOB = Principal("id_bob", "loid-bob", frozenset({Scope.READ, Scope.WRITE}))


def vault_service(
    credentials: VersionedCredentialStore, audit: AuditStore, limit: int
) -> VaultService:
    keys = KeyManager(
        StaticKeySource(Keyring.from_keys(os.urandom(32))),
        cast(KeyLedger, None),  # sealing and opening never reach the ledger
    )
    return VaultService(
        credentials, keys, audit=AuditLog(audit), max_credentials_per_identity=limit
    )


async def test_the_vault_service_runs_on_a_fake_credential_store() -> None:
    credentials, audit = MemoryCredentials(), MemoryAudit()
    service = vault_service(credentials, audit, limit=2)
    body = StoreRequest(type="LOGIN", data={"password": "pw-fake-store"})
    await service.store_credential(ALICE, "a", body)
    await service.store_credential(ALICE, "b", body)
    with pytest.raises(ConflictError):  # the core's rule, the fake's atomic count
        await service.store_credential(ALICE, "c", body)
    got = await service.get_credential(ALICE, "a")
    assert got.data == {"password": "pw-fake-store"}
    assert b"pw-fake-store" not in credentials.rows["id_alice", "a"].ciphertext
    with pytest.raises(NotFoundError):
        await service.get_credential(BOB, "a")
    assert await service.last_used.flush() == 1
    assert list(credentials.last_used) == [credentials.rows["id_alice", "a"].credential_id]


async def test_the_audit_log_aggregates_anothers_refusals_on_a_fake_audit_store() -> None:
    store = MemoryAudit()
    store.owners["shared"] = ["id_alice"]
    now = [1_800_000_000.0]
    log = AuditLog(store, clock=lambda: now[0], copy_window=60)
    for _ in range(2000):
        with pytest.raises(NotFoundError):
            async with log.call(BOB, "get", "shared"):
                raise NotFoundError("No such credential.")
    await log.flush()
    assert len([e for e in store.events if e.identity_id == "id_bob"]) == 2000  # bob's own
    assert await log.owner_copies.flush() == 0  # alice's copy waits for its window
    now[0] += 61
    assert await log.owner_copies.flush() == 1
    (copy,) = [e for e in store.events if e.identity_id == "id_alice"]
    assert (copy.actor_identity_id, copy.credential_name, copy.count) == ("id_bob", "shared", 2000)
