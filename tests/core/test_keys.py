"""Master-key management on both stores: the store's key recorded at first start,
a server with other keys refused, rows under a key the server lacks, wrap counts."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from loomal.config import ServerSettings
from loomal.core.crypto import derive_key_id
from loomal.core.keys import StaticKeySource
from loomal.errors import ValidationError
from loomal.runtime import key_session, key_source, open_vault
from tests.conftest import Api, free_port
from tests.server.test_api import assert_error


def write_key_file(path: Path) -> tuple[Path, str]:
    """A plain key file with one new key; its path and key id."""
    key = os.urandom(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(base64.b64encode(key).decode() + "\n")
    path.chmod(0o600)
    return path, derive_key_id(key)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def open_and_close(settings: ServerSettings) -> None:
    vault = await open_vault(settings)
    await vault.close()


def test_a_server_with_other_keys_than_the_store_recorded_refuses_to_start(
    settings: ServerSettings, tmp_path: Path
) -> None:
    first_file, first_id = write_key_file(tmp_path / "first.key")
    other_file, other_id = write_key_file(tmp_path / "other.key")
    run(open_and_close(replace(settings, master_key_file=first_file)))  # the store is still empty
    with pytest.raises(ValidationError) as caught:
        run(open_and_close(replace(settings, master_key_file=other_file)))
    message = caught.value.message
    assert first_id in message and other_id not in message
    assert "LOOMAL_MASTER_KEY_FILE" in message  # says what to do
    run(open_and_close(replace(settings, master_key_file=first_file)))  # the right key still opens


@pytest.mark.postgres
def test_two_servers_starting_together_on_an_empty_database_one_wins(
    postgres_url: str, tmp_path: Path
) -> None:
    def server(name: str) -> ServerSettings:
        return ServerSettings.load(
            {"data_dir": str(tmp_path / name), "database_url": postgres_url}, env={}
        )

    async def both() -> tuple[BaseException | None, BaseException | None]:
        return await asyncio.gather(
            open_and_close(server("a")), open_and_close(server("b")), return_exceptions=True
        )

    outcomes = run(both())
    refused = [o for o in outcomes if isinstance(o, ValidationError)]
    assert len(refused) == 1, outcomes
    assert outcomes.count(None) == 1


def test_a_row_under_a_key_the_server_lacks_answers_503_key_unavailable(api: Api) -> None:
    created = api.new_identity()
    headers = {"Authorization": f"Bearer {created.api_key}"}
    body = {"type": "LOGIN", "data": {"password": "pw-held-elsewhere"}}
    assert api.client.put("/v0/vault/elsewhere", json=body, headers=headers).status_code == 200
    store = api.vault.store
    row = api.call(store.get_credential, identity_id=created.identity_id, name="elsewhere")
    absent = derive_key_id(os.urandom(32))  # as if another server's key had wrapped it
    assert api.call(
        store.replace_wrapped_key,
        credential_id=row.credential_id,
        version=row.version,
        old_key_id=row.key_id,
        key_id=absent,
        wrapped_key=row.wrapped_key,
    )
    message = assert_error(
        api.client.get("/v0/vault/elsewhere", headers=headers), 503, "key_unavailable"
    )
    assert absent in message
    assert "pw-held-elsewhere" not in message


@pytest.mark.slow
@pytest.mark.postgres
def test_two_real_servers_on_one_new_database_only_one_serves(
    postgres_url: str, tmp_path: Path
) -> None:
    import subprocess

    def start(name: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "loomal", "serve", "--port", str(free_port())),
                *("--data-dir", str(tmp_path / name), "--database-url", postgres_url),
            ],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    servers = [start("a"), start("b")]
    try:
        refused = None
        for _ in range(300):
            for proc in servers:
                if proc.poll() is not None:
                    refused = proc
            if refused is not None:
                break
            time.sleep(0.1)
        assert refused is not None, "both servers started on one store with different keys"
        _, stderr = refused.communicate(timeout=10)
        assert refused.returncode == 1
        assert "recorded" in stderr and "Traceback" not in stderr
        survivor = next(p for p in servers if p is not refused)
        assert survivor.poll() is None  # the first one serves on
    finally:
        for proc in servers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the server and its workers
            proc.communicate(timeout=15)


def test_the_master_key_is_read_once_into_settings_and_never_shown() -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    settings = ServerSettings.load({}, env={"LOOMAL_MASTER_KEY": key})
    assert settings.master_key == base64.b64decode(key)
    assert key not in repr(settings)
    source = key_source(settings)
    assert isinstance(source, StaticKeySource)
    assert key not in repr(source) and source.description == "LOOMAL_MASTER_KEY"
    assert settings.to_env()["LOOMAL_MASTER_KEY"] == key  # what each worker reads
    with pytest.raises(ValidationError) as caught:
        ServerSettings.load({}, env={"LOOMAL_MASTER_KEY": key[:-4]})
    assert key[:-4] not in caught.value.message


def test_rotation_and_retirement_refuse_a_key_from_the_environment(
    settings: ServerSettings,
) -> None:
    from_env = replace(settings, master_key=os.urandom(32))
    run(open_and_close(from_env))

    async def attempt(operation: str) -> None:
        async with key_session(from_env) as keys:
            await (keys.rotate() if operation == "rotate" else keys.retire("mk_0"))

    for operation in ("rotate", "retire"):
        with pytest.raises(ValidationError, match="LOOMAL_MASTER_KEY_FILE"):
            run(attempt(operation))
