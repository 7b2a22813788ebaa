"""Audit events written in batches (several rows per INSERT) come back whole and
in the order they were noted, across the statements a batch is split into."""

from __future__ import annotations

from pathlib import Path

from loomal.core.ports import AuditEvent
from loomal.store.sqlite import SqliteStore


def event(i: int) -> AuditEvent:
    return AuditEvent(
        at=1_700_000_000_000_000 + i // 3,  # several events share a microsecond
        identity_id=f"id_{i % 2}",
        actor_identity_id=None if i % 7 == 0 else f"id_{i % 2}",
        key_prefix="loid-ab12",
        action=("get", "totp", "store")[i % 3],
        credential_name=None if i % 5 == 0 else f"cred-é{i}",
        outcome="ok" if i % 4 else "not_found",
        client=None if i % 6 == 0 else "127.0.0.1",
        detail="GET api.example.com/v1 200 12ms" if i % 11 == 0 else None,
        count=1 + i % 3,
    )


async def test_a_batch_of_any_size_is_written_whole_and_in_order(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "loomal.db")
    try:
        written = [event(i) for i in range(257)]  # 100 + 100 + 57 rows
        await store.append_audit_events(events=written[:1])
        await store.append_audit_events(events=written[1:])
        rows = await store.list_audit_events(identity_id=None, action=None, before=None, limit=1000)
        assert [e for _, e in reversed(rows)] == written
        ids = [event_id for event_id, _ in rows]
        assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(written)
    finally:
        await store.close()
