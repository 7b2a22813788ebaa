"""The one SQL layer (store/sql.py) on both databases: rows come back as the same
types, and the credential limit holds against concurrent creates."""

from __future__ import annotations

import asyncio

import pytest

from loomal.core.ports import CredentialRow
from loomal.errors import ConflictError
from loomal.store.sql import SqlStore


def _row(name: str, credential_id: str) -> CredentialRow:
    return CredentialRow(
        credential_id=credential_id,
        name=name,
        type="API_KEY",
        metadata_json=b"{}",
        expires_at=None,
        created_at=1,
        updated_at=1,
        last_used_at=None,
        last_rotated_at=None,
        version=1,
        identity_id="id-alice",
        key_id="k1",
        wrapped_key=b"\x00wrapped",
        nonce=b"\x02" * 12,
        ciphertext=b"\xffsecret",
    )


async def test_blob_columns_come_back_as_bytes(store: SqlStore) -> None:
    await store.modify_credential(
        identity_id="id-alice", name="a", change=lambda _: (_row("a", "c1"), None)
    )
    got = await store.get_credential(identity_id="id-alice", name="a")
    assert got == _row("a", "c1")
    assert all(type(v) is bytes for v in (got.metadata_json, got.wrapped_key, got.ciphertext))
    (listed,) = await store.list_credentials(identity_id="id-alice", after_name=None, limit=5)
    assert type(listed.metadata_json) is bytes
    (key,) = await store.list_api_keys(identity_id="id-alice")
    assert type(key.key_hash) is bytes and key.prefix == "loid-a"


async def test_the_credential_limit_holds_against_concurrent_creates(store: SqlStore) -> None:
    async def create(i: int) -> bool:
        try:
            await store.modify_credential(
                identity_id="id-alice",
                name=f"n{i}",
                change=lambda _: (_row(f"n{i}", f"c{i}"), None),
                max_credentials=5,
            )
        except ConflictError:
            return False
        return True

    created = await asyncio.gather(*(create(i) for i in range(20)))
    assert sum(created) == 5
    assert await store.count_credentials(identity_id="id-alice") == 5


async def test_a_change_that_raises_writes_nothing(store: SqlStore) -> None:
    def refuse(_: CredentialRow | None) -> tuple[CredentialRow, None]:
        raise ValueError("refused by the change")

    with pytest.raises(ValueError, match="refused by the change"):
        await store.modify_credential(identity_id="id-alice", name="x", change=refuse)
    assert await store.get_credential(identity_id="id-alice", name="x") is None
