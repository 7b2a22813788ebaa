"""PostgreSQL's one-round-trip write (migration 0018's function): a change computed
from a row another server has since replaced is computed again on the current one,
nothing is written twice or lost, and a write from a row this process has seen is
one statement."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from loomal.core.ports import ApiKeyRow, CredentialRow, IdentityRow
from loomal.store.postgres import PostgresStore

pytestmark = pytest.mark.postgres

Servers = tuple[PostgresStore, PostgresStore]


@pytest.fixture
async def servers(postgres_url: str) -> AsyncIterator[Servers]:
    """Two stores on one database: two servers, each with its own memory."""
    first = await PostgresStore.open(postgres_url)
    second = await PostgresStore.open(postgres_url)
    await first.create_identity(
        identity=IdentityRow("id-alice", "alice", 1),
        api_key=ApiKeyRow(b"\x01" * 32, "id-alice", "loid-a", "vault:read", 1, None, None),
    )
    yield first, second
    await first.close()
    await second.close()


def _row(codes: list[int], *, version: int = 1, last_used_at: int | None = None) -> CredentialRow:
    return CredentialRow(
        credential_id="c1",
        name="gh",
        type="TOTP",
        metadata_json=b"{}",
        expires_at=None,
        created_at=1,
        updated_at=1,
        last_used_at=last_used_at,
        last_rotated_at=None,
        version=version,
        identity_id="id-alice",
        key_id="k1",
        wrapped_key=b"\x00wrapped",
        nonce=b"\x02" * 12,
        ciphertext=bytes(codes),  # stands for sealed backup codes
    )


def _pop(existing: CredentialRow | None) -> tuple[CredentialRow, int]:
    """A backup-code pop: the first code leaves, the version moves on."""
    assert existing is not None
    codes = list(existing.ciphertext)
    new = msgspec.structs.replace(
        existing, ciphertext=bytes(codes[1:]), version=existing.version + 1
    )
    return new, codes[0]


async def _store(store: PostgresStore, row: CredentialRow) -> None:
    await store.modify_credential(
        identity_id="id-alice", name=row.name, change=lambda _: (row, None)
    )


async def test_a_change_from_a_replaced_row_runs_again_on_the_current_one(
    servers: Servers,
) -> None:
    first, second = servers
    await _store(first, _row([1, 2, 3]))
    assert await second.get_credential(identity_id="id-alice", name="gh") is not None
    assert await first.modify_credential(identity_id="id-alice", name="gh", change=_pop) == 1

    seen: list[int] = []

    def pop_noting(existing: CredentialRow | None) -> tuple[CredentialRow, int]:
        assert existing is not None
        seen.append(existing.version)
        return _pop(existing)

    # The second server last saw version 1; the code it hands out is the next one.
    assert await second.modify_credential(identity_id="id-alice", name="gh", change=pop_noting) == 2
    assert seen == [1, 2]
    current = await first.get_credential(identity_id="id-alice", name="gh")
    assert current is not None and current.version == 3 and list(current.ciphertext) == [3]


async def test_two_servers_popping_at_once_hand_out_each_code_once(servers: Servers) -> None:
    first, second = servers
    await _store(first, _row(list(range(60))))

    async def pop(store: PostgresStore) -> int:
        return await store.modify_credential(identity_id="id-alice", name="gh", change=_pop)

    handed = await asyncio.gather(*(pop(servers[i % 2]) for i in range(60)))
    assert sorted(handed) == list(range(60))
    left = await second.get_credential(identity_id="id-alice", name="gh")
    assert left is not None and left.ciphertext == b"" and left.version == 61


def _count_statements(store: PostgresStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements ``store`` sends from now on (each one round trip); the
    locking script, which would send several, is taken away."""
    statements: list[str] = []
    real = store._fetch_one

    async def counted(sql: str, params: Any = ()) -> Any:
        statements.append(sql)
        return await real(sql, params)

    monkeypatch.setattr(store, "_fetch_one", counted)
    monkeypatch.setattr(store, "_transact", None)
    return statements


async def test_a_write_from_a_row_this_server_saw_is_one_statement(
    servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = servers
    await _store(first, _row([1, 2, 3]))
    statements = _count_statements(first, monkeypatch)
    assert await first.modify_credential(identity_id="id-alice", name="gh", change=_pop) == 1
    assert len(statements) == 1


async def test_a_create_is_one_statement_and_a_write_from_a_replaced_row_two(
    servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = servers
    statements = _count_statements(first, monkeypatch)
    await _store(first, _row([1, 2, 3]))
    assert len(statements) == 1
    assert await second.modify_credential(identity_id="id-alice", name="gh", change=_pop) == 1
    statements.clear()
    assert await first.modify_credential(identity_id="id-alice", name="gh", change=_pop) == 2
    assert len(statements) == 2  # the stale answer carries the current row


async def test_last_used_never_moves_back_when_the_row_seen_is_older(servers: Servers) -> None:
    first, second = servers
    await _store(first, _row([1, 2]))
    await second.record_last_used(last_used={"c1": 500})  # flushed without a new version
    await first.modify_credential(identity_id="id-alice", name="gh", change=_pop)
    current = await second.get_credential(identity_id="id-alice", name="gh")
    assert current is not None and current.last_used_at == 500 and current.version == 2


async def test_a_change_refusing_a_replaced_row_is_asked_again(servers: Servers) -> None:
    first, second = servers
    await _store(first, _row([]))  # no codes left, as the first server saw it
    await _store(second, _row([7], version=2))  # refilled by the other server

    assert await first.modify_credential(identity_id="id-alice", name="gh", change=_pop) == 7


async def test_the_rows_remembered_stay_within_their_bound(
    servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loomal.store import postgres

    first, _ = servers
    monkeypatch.setattr(postgres, "_SEEN_BYTES", 5000)
    for i in range(20):  # 20 rows of about 930 bytes each, object included
        await _store(
            first, msgspec.structs.replace(_row([1] * 200), credential_id=f"c{i}", name=f"n{i}")
        )
        assert 0 < first._seen_bytes <= 5000
    assert len(first._seen) < 20
    assert first._seen_bytes == sum(postgres._size(r) for r in first._seen.values())


async def test_the_bound_on_remembered_rows_counts_the_memory_they_take(
    servers: Servers,
) -> None:
    """What the bound counts is what the rows take (a worker that read a million
    credentials at random kept five times its bound when only sealed bytes counted)."""
    import gc
    import os
    import tracemalloc

    first, _ = servers
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(2000):  # rows as a read makes them: every value its own object
            row = CredentialRow(
                credential_id=f"cred_{os.urandom(12).hex()}", name=f"cred-{i:06d}",
                type="API_KEY", metadata_json=b'{"owner":"agent-0001","n":123}',
                expires_at=None, created_at=1_796_677_866_000_000 + i,
                updated_at=1_796_677_866_000_000 + i, last_used_at=None, last_rotated_at=None,
                version=1, identity_id=f"id_{os.urandom(12).hex()}", key_id=f"k_{i:016x}",
                wrapped_key=os.urandom(60), nonce=os.urandom(12), ciphertext=os.urandom(40),
            )  # fmt: skip
            first._remember((row.identity_id, row.name), row)
        del row
        gc.collect()
        taken = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(first._seen) == 2000
    assert taken <= first._seen_bytes * 1.25
