"""SQLite seals a write before taking the writer's lock, on the row it expects; a
row that moved on meanwhile (another worker's write) must never be overwritten
with what was sealed for the old one."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

from loomal.config import ServerSettings
from loomal.core.models import StoreRequest
from loomal.core.ports import CredentialRow
from loomal.runtime import RunningVault, open_vault
from loomal.store.sql import Ahead
from loomal.store.sqlite import SqliteStore


async def two_workers(tmp_path: Path) -> tuple[RunningVault, RunningVault]:
    key = base64.b64encode(os.urandom(32)).decode()
    settings = ServerSettings.load({"data_dir": str(tmp_path)}, env={"LOOMAL_MASTER_KEY": key})
    env = {"LOOMAL_MASTER_KEY": key}
    return await open_vault(settings, env=env), await open_vault(settings, env=env)


def renamed_version(row: CredentialRow | None) -> tuple[CredentialRow, int]:
    """A change whose outcome depends on the row it is given (its version)."""
    assert row is not None
    return row, row.version


async def test_a_row_that_moved_on_is_changed_again_under_the_lock(tmp_path: Path) -> None:
    first, second = await two_workers(tmp_path)
    try:
        created = await first.identities.create_identity(
            "agent", scopes=["vault:read", "vault:write"]
        )
        who = await first.identities.authenticate(f"Bearer {created.api_key}")
        one = StoreRequest(type="API_KEY", data={"key": "sk_one"})
        await first.service.store_credential(who, "stripe", one)
        store = first.store
        assert isinstance(store, SqliteStore)
        stale = await store.get_credential(identity_id=who.identity_id, name="stripe")
        assert stale is not None and stale.version == 1

        # Another worker writes after `stale` was read and before the transaction.
        two = StoreRequest(type="API_KEY", data={"key": "sk_two"})
        await second.service.store_credential(who, "stripe", two)

        seen: list[int] = []

        def change(row: CredentialRow | None) -> tuple[CredentialRow, int]:
            assert row is not None
            seen.append(row.version)
            return renamed_version(row)

        result = await store.modify_credential(
            identity_id=who.identity_id,
            name="stripe",
            change=change,
            ahead=Ahead(stale, renamed_version(stale)),
        )
        assert seen == [2] and result == 2  # decided on the row current under the lock
        got = await first.service.get_credential(who, "stripe")
        assert got.data == {"key": "sk_two"}  # the other worker's write is not undone
    finally:
        await first.close()
        await second.close()


async def test_pops_from_two_workers_at_once_hand_each_code_out_once(tmp_path: Path) -> None:
    first, second = await two_workers(tmp_path)
    try:
        created = await first.identities.create_identity(
            "agent", scopes=["vault:read", "vault:write"]
        )
        who = await first.identities.authenticate(f"Bearer {created.api_key}")
        codes = [f"code-{n:03d}" for n in range(60)]
        request = StoreRequest(
            type="TOTP", data={"secret": "JBSWY3DPEHPK3PXP", "backupCodes": codes}
        )
        await first.service.store_credential(who, "gh", request)

        pops = [(first if n % 2 else second).service.totp_use_backup(who, "gh") for n in range(60)]
        handed = [r.code for r in await asyncio.gather(*pops)]

        assert sorted(handed) == codes  # each code once, none lost
        history = await first.service.list_versions(who, "gh")
        assert [v.version for v in history.versions][:3] == [61, 60, 59]
    finally:
        await first.close()
        await second.close()
