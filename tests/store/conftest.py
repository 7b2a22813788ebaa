"""The store fixture: one SqlStore per database, with one identity (alice)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from loomal.core.ports import ApiKeyRow, IdentityRow
from loomal.store.sql import SqlStore


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlStore]:
    opened: SqlStore
    if request.param == "postgres":
        from loomal.store.postgres import PostgresStore

        opened = await PostgresStore.open(request.getfixturevalue("postgres_url"))
    else:
        from loomal.store.sqlite import SqliteStore

        opened = await SqliteStore.open(tmp_path / "vault.db")
    await opened.create_identity(
        identity=IdentityRow("id-alice", "alice", 1),
        api_key=ApiKeyRow(b"\x01" * 32, "id-alice", "loid-a", "vault:read", 1, None, None),
    )
    yield opened
    await opened.close()
