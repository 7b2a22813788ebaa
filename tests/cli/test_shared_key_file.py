"""The README's recipe for several servers: one PostgreSQL database and one master
key file that every server reads. Rotation works while they serve: one host runs
``loomal admin rotate-master-key``, every server follows the file, no read fails,
and the old key can then be retired."""

from __future__ import annotations

import base64
import json
import os
import threading
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, auth, loomal, start_server

README = Path(__file__).parents[2] / "README.md"


def test_the_readme_recipe_is_the_one_tested_here() -> None:
    recipe = README.read_text().split("## Running several servers", 1)[1].split("\n## ", 1)[0]
    assert "export LOOMAL_MASTER_KEY_FILE=" in recipe
    assert "loomal admin rotate-master-key" in recipe
    assert "LOOMAL_MASTER_KEY=" not in recipe  # an environment key cannot be rotated


@pytest.mark.slow
@pytest.mark.postgres
def test_rotation_with_one_key_file_shared_by_two_servers(
    postgres_url: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "shared" / "master.key"  # storage every server reads
    key_file.parent.mkdir()
    key_file.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    key_file.chmod(0o600)
    env = {"LOOMAL_MASTER_KEY_FILE": str(key_file), "LOOMAL_DATABASE_URL": postgres_url}
    servers: list[ServerProcess] = []
    for host in ("a", "b"):  # each host has a data dir of its own
        (tmp_path / host).mkdir()
        servers.append(start_server(cwd=tmp_path / host, env=env))
    admin_env = env
    try:
        key = next(s.api_key for s in servers if s.api_key)
        with httpx.Client(headers=auth(key)) as client:
            for i in range(60):
                url = f"{servers[i % 2].base_url}/v0/vault/r-{i:02d}"
                assert client.put(
                    url, json={"type": "API_KEY", "data": {"key": f"k{i}"}}
                ).is_success

        failures: list[int] = []
        stop = threading.Event()

        def reader(base_url: str) -> None:
            with httpx.Client(base_url=base_url, headers=auth(key)) as client:
                n = 0
                while not stop.is_set():
                    status = client.get(f"/v0/vault/r-{n % 60:02d}").status_code
                    n += 1
                    if status != 200:
                        failures.append(status)

        threads = [threading.Thread(target=reader, args=(s.base_url,)) for s in servers]
        for thread in threads:
            thread.start()
        try:
            rotated = loomal("admin", "rotate-master-key", cwd=tmp_path / "a", env=admin_env)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        assert rotated.returncode == 0, rotated.stderr
        assert failures == []

        status = json.loads(
            loomal("admin", "key-status", "--json", cwd=tmp_path / "b", env=admin_env).stdout
        )
        new, old = status["keys"]
        assert (new["primary"], new["credentials"]) == (True, 60)
        assert (old["credentials"], old["retirable"]) == (0, True)
        retired = loomal("admin", "retire-key", old["keyId"], cwd=tmp_path / "b", env=admin_env)
        assert retired.returncode == 0, retired.stderr
        assert len(key_file.read_text().split()) == 1

        with httpx.Client(headers=auth(key)) as client:
            for server in servers:  # both still read, and write under the new key
                assert client.get(server.base_url + "/v0/vault/r-07").json()["data"] == {
                    "key": "k7"
                }
                put = client.put(
                    server.base_url + "/v0/vault/after",
                    json={"type": "API_KEY", "data": {"key": "x"}},
                )
                assert put.is_success
    finally:
        for server in servers:
            server.stop()


@pytest.mark.slow
@pytest.mark.postgres
def test_servers_on_an_environment_key_move_to_a_key_file_and_rotate(
    postgres_url: str, tmp_path: Path
) -> None:
    """The documented way off ``LOOMAL_MASTER_KEY``: the same key into a file, a
    restart with ``LOOMAL_MASTER_KEY_FILE``, then rotation as usual."""
    master_key = base64.b64encode(os.urandom(32)).decode()
    store = {"LOOMAL_DATABASE_URL": postgres_url}
    server = start_server(cwd=tmp_path, env={**store, "LOOMAL_MASTER_KEY": master_key})
    key = server.api_key or ""
    body = {"type": "API_KEY", "data": {"key": "kept"}}
    assert httpx.put(server.base_url + "/v0/vault/k", json=body, headers=auth(key)).is_success
    refused = loomal(
        "admin", "rotate-master-key", cwd=tmp_path, env={**store, "LOOMAL_MASTER_KEY": master_key}
    )
    assert refused.returncode == 1 and "LOOMAL_MASTER_KEY_FILE" in refused.stderr
    server.stop()

    key_file = tmp_path / "master.key"
    key_file.write_text(master_key + "\n")
    key_file.chmod(0o600)
    moved = {**store, "LOOMAL_MASTER_KEY_FILE": str(key_file)}
    server = start_server(cwd=tmp_path, env=moved)
    try:
        rotated = loomal("admin", "rotate-master-key", cwd=tmp_path, env=moved)
        assert rotated.returncode == 0, rotated.stderr
        assert len(key_file.read_text().split()) == 2
        got = httpx.get(server.base_url + "/v0/vault/k", headers=auth(key))
        assert got.json()["data"] == {"key": "kept"}
    finally:
        server.stop()
