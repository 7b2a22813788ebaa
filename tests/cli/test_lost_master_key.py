"""A lost ``master.key`` beside an existing store: the server writes no new key file
there (a new key cannot read the data), says plainly that the data needs the old
key and how to restore it, and starts again once the backup is back."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from loomal.config import ServerSettings
from loomal.core.models import StoreRequest
from loomal.errors import ValidationError
from loomal.keyfile import read_key_ids
from loomal.runtime import open_vault
from tests.conftest import ServerProcess, auth, free_port, start_server


async def test_a_store_with_data_gets_no_new_key(settings: ServerSettings) -> None:
    vault = await open_vault(settings, env={})
    try:
        created = await vault.identities.create_identity("agent", scopes=["vault:write"])
        who = await vault.identities.authenticate(f"Bearer {created.api_key}")
        await vault.service.store_credential(
            who, "k", StoreRequest(type="API_KEY", data={"key": "v"})
        )
    finally:
        await vault.close()
    (key_id,) = read_key_ids(settings.key_file)
    settings.key_file.unlink()

    with pytest.raises(ValidationError) as refused:
        await open_vault(settings, env={})
    assert str(refused.value) == (
        f"The master key file {settings.key_file} is missing, but this store already holds a "
        f"vault: its data can only be read with the key it was created with ({key_id}) "
        "(recorded when its first server started); a new key was not generated. Restore the "
        f"key file from your backup to {settings.key_file} (chmod 600), or point "
        "LOOMAL_MASTER_KEY_FILE (or LOOMAL_MASTER_KEY) at it; if other servers use this store, "
        "give this one their key file. Without that key the stored credentials cannot be "
        "recovered."
    )
    assert not settings.key_file.exists()


async def test_a_new_store_still_gets_a_generated_key(settings: ServerSettings) -> None:
    vault = await open_vault(settings, env={})
    await vault.close()
    assert len(read_key_ids(settings.key_file)) == 1


@pytest.mark.slow
def test_serve_refuses_then_starts_with_the_restored_key(
    server: ServerProcess, tmp_path: Path
) -> None:
    data = tmp_path / "server-data"
    key = server.api_key or ""
    put = httpx.put(
        server.base_url + "/v0/vault/k",
        json={"type": "API_KEY", "data": {"key": "kept"}},
        headers=auth(key),
    )
    assert put.status_code == 200
    server.stop()
    backup = tmp_path / "backup.key"
    shutil.move(data / "master.key", backup)

    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "loomal",
            "serve",
            "--port",
            str(free_port()),
            "--data-dir",
            str(data),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"error: The master key file {data / 'master.key'} is missing")
    assert "Restore the key file from your backup" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (data / "master.key").exists()

    shutil.copy(backup, data / "master.key")
    (data / "master.key").chmod(0o600)
    restored = start_server("--data-dir", str(data), cwd=tmp_path)
    try:
        got = httpx.get(restored.base_url + "/v0/vault/k", headers=auth(key))
        assert got.json()["data"] == {"key": "kept"}
    finally:
        restored.stop()
