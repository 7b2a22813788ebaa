"""Each identity's audit log is numbered 1, 2, 3 on both databases, however its
events arrive (one by one inside a write, or in batches from the write-behind
buffer), and goes on from its last number after pruning emptied it."""

from __future__ import annotations

from loomal.core.ports import ApiKeyRow, AuditEvent, IdentityRow
from loomal.store.sql import SqlStore


def event(at: int, identity_id: str | None, action: str = "get") -> AuditEvent:
    return AuditEvent(at, identity_id, identity_id, "loid-a", action, "stripe", "ok", None)


async def numbers(store: SqlStore, identity_id: str) -> list[int]:
    page = await store.list_audit_events(
        identity_id=identity_id, action=None, before=None, limit=100
    )
    return sorted(seq for seq, _ in page)


async def test_each_log_counts_its_own_events_in_batches_and_alone(store: SqlStore) -> None:
    await store.create_identity(
        identity=IdentityRow("id-bob", "bob", 1),
        api_key=ApiKeyRow(b"\x02" * 32, "id-bob", "loid-b", "vault:read", 1, None, None),
    )
    batch = [event(10 + n, "id-alice" if n % 3 else "id-bob") for n in range(9)]
    await store.append_audit_events(events=[*batch, event(30, None)])
    await store.destroy_credential(
        identity_id="id-alice", name="absent", audit=event(40, "id-alice", "destroy")
    )  # nothing to destroy: no event
    await store.append_audit_events(events=[event(50, "id-alice")])

    assert await numbers(store, "id-alice") == [1, 2, 3, 4, 5, 6, 7]
    assert await numbers(store, "id-bob") == [1, 2, 3]


async def test_a_log_pruned_empty_goes_on_from_its_last_number(store: SqlStore) -> None:
    await store.append_audit_events(events=[event(n, "id-alice") for n in range(1, 6)])
    assert await store.prune_audit_events(before=100, limit=1000) == 5
    assert await numbers(store, "id-alice") == []

    await store.append_audit_events(events=[event(200, "id-alice"), event(201, "id-alice")])

    assert await numbers(store, "id-alice") == [6, 7]
