"""The credential row cache: a read never answers from a row older than the last
commit, whichever connection or process made it (two workers share one file)."""

from __future__ import annotations

import base64
import os
import sqlite3
from pathlib import Path

import pytest

from loomal.config import ServerSettings
from loomal.core.models import StoreRequest
from loomal.errors import IntegrityError, NotFoundError
from loomal.runtime import RunningVault, open_vault


async def two_workers(tmp_path: Path) -> tuple[RunningVault, RunningVault]:
    """Two vaults on one SQLite file, as `loomal serve --workers 2` runs them."""
    key = base64.b64encode(os.urandom(32)).decode()
    settings = ServerSettings.load({"data_dir": str(tmp_path)}, env={"LOOMAL_MASTER_KEY": key})
    env = {"LOOMAL_MASTER_KEY": key}
    return await open_vault(settings, env=env), await open_vault(settings, env=env)


async def test_a_change_by_another_worker_is_seen_by_the_next_read(tmp_path: Path) -> None:
    first, second = await two_workers(tmp_path)
    try:
        created = await first.identities.create_identity(
            "agent", scopes=["vault:read", "vault:write"]
        )
        who = await first.identities.authenticate(f"Bearer {created.api_key}")
        request = StoreRequest(type="API_KEY", data={"key": "sk_one"})
        await first.service.store_credential(who, "stripe", request)
        for _ in range(3):  # cached by now
            assert (await first.service.get_credential(who, "stripe")).data == {"key": "sk_one"}

        await second.service.store_credential(
            who, "stripe", StoreRequest(type="API_KEY", data={"key": "sk_two"})
        )
        assert (await first.service.get_credential(who, "stripe")).data == {"key": "sk_two"}

        await second.service.delete_credential(who, "stripe")
        with pytest.raises(NotFoundError):
            await first.service.get_credential(who, "stripe")

        # An absent name is cached too, and a creation elsewhere ends that at once.
        await second.service.store_credential(who, "stripe", request)
        assert (await first.service.get_credential(who, "stripe")).data == {"key": "sk_one"}
    finally:
        await first.close()
        await second.close()


async def test_a_change_made_outside_loomal_is_seen_too(tmp_path: Path) -> None:
    """A hand edit (sqlite3 shell, a restore) goes through no code of ours."""
    vault, other = await two_workers(tmp_path)
    await other.close()
    try:
        created = await vault.identities.create_identity(
            "agent", scopes=["vault:read", "vault:write"]
        )
        who = await vault.identities.authenticate(f"Bearer {created.api_key}")
        await vault.service.store_credential(
            who, "stripe", StoreRequest(type="API_KEY", data={"key": "sk_one"}, metadata={"a": 1})
        )
        assert (await vault.service.get_credential(who, "stripe")).metadata == {"a": 1}
        with sqlite3.connect(tmp_path / "loomal.db") as conn:
            conn.execute("UPDATE credentials SET metadata = ? WHERE name = 'stripe'", (b'{"a":2}',))
        # seen, not served from the cache: and metadata is bound to the ciphertext
        with pytest.raises(IntegrityError):
            await vault.service.get_credential(who, "stripe")
    finally:
        await vault.close()
