"""The sealed start as an operator runs it: ``loomal admin set-passphrase``, a real
``loomal serve`` with two workers, ``unseal``, ``seal``, rotation of a sealed key
file while serving, and a restart with a passphrase file, on both stores."""

from __future__ import annotations

import base64
import json
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from loomal import Loomal, SealedError
from loomal.keyfile import is_sealed_key_file, read_key_ids, read_keys
from tests.conftest import ServerProcess, auth, eventually, free_port, loomal, start_server

pytestmark = pytest.mark.slow  # starts real server processes (not in make test-fast)

PASSPHRASE = "correct horse battery staple"
NEW_PASSPHRASE = "tr0ub4dor & three more words"


def passphrase_file(tmp_path: Path, text: str = PASSPHRASE) -> str:
    path = tmp_path / f"pass-{len(list(tmp_path.glob('pass-*')))}.txt"
    path.write_text(text + "\n")
    path.chmod(0o600)
    return str(path)


def ok(*args: str, cwd: Path, stdin: str | None = None) -> str:
    result = loomal(*args, cwd=cwd, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return result.stdout


def set_new_passphrase(tmp_path: Path, store_args: list[str]) -> str:
    """``loomal admin set-passphrase`` with PASSPHRASE from a file; its output."""
    return ok(
        "admin",
        "set-passphrase",
        "--new-passphrase-file",
        passphrase_file(tmp_path),
        *store_args,
        cwd=tmp_path,
    )


def start_sealed_vault(tmp_path: Path, *extra: str) -> tuple[ServerProcess, list[str]]:
    """A new vault sealed under PASSPHRASE, served unsealed through a passphrase file."""
    data = ["--data-dir", str(tmp_path / "data")]
    set_new_passphrase(tmp_path, data)
    server = start_server(
        *data, *extra, "--unseal-passphrase-file", passphrase_file(tmp_path), cwd=tmp_path
    )
    return server, data


def statuses(server: ServerProcess, api_key: str, n: int = 20) -> set[int]:
    """Status codes of n reads on fresh connections (so both workers answer)."""
    codes = set()
    for _ in range(n):
        response = httpx.get(server.base_url + "/v0/vault", headers=auth(api_key))
        codes.add(response.status_code)
    return codes


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_args(request: pytest.FixtureRequest, tmp_path: Path) -> list[str]:
    args = ["--data-dir", str(tmp_path / "data")]
    if request.param == "postgres":
        args += ["--database-url", request.getfixturevalue("postgres_url")]
    return args


def test_sealed_start_unseal_rotate_seal(store_args: list[str], tmp_path: Path) -> None:
    key_file = tmp_path / "data" / "master.key"
    created = set_new_passphrase(tmp_path, store_args)
    assert "Sealed" in created and is_sealed_key_file(key_file)
    server = start_server(*store_args, "--workers", "2", cwd=tmp_path)
    try:
        api_key = server.api_key or ""
        assert "SEALED until `loomal admin unseal`" in "".join(server.output)
        assert statuses(server, api_key) == {503}
        assert ok("admin", "seal-status", *store_args, cwd=tmp_path).strip() == "sealed"
        with Loomal(api_key, server.base_url) as sdk, pytest.raises(SealedError) as caught:
            sdk.vault.get("k-00")  # after the SDK's two retries
        assert caught.value.http_status == 503

        wrong = loomal(
            "admin",
            "unseal",
            "--passphrase-file",
            "-",
            *store_args,
            cwd=tmp_path,
            stdin="not the passphrase\n",
        )
        assert wrong.returncode == 1
        assert "Wrong passphrase" in wrong.stderr
        assert statuses(server, api_key) == {503}

        unsealed = ok(
            "admin", "unseal", "--passphrase-file", "-", *store_args, cwd=tmp_path, stdin=PASSPHRASE
        )
        assert unsealed.startswith("Unsealed (master keys mk_")
        with httpx.Client(base_url=server.base_url, headers=auth(api_key)) as client:
            for i in range(20):  # at once, on every worker: no waiting after the unseal
                body = {"type": "API_KEY", "data": {"key": f"sk_live_{i:04d}"}}
                assert client.put(f"/v0/vault/k-{i:02d}", json=body).status_code == 200
        assert statuses(server, api_key) == {200}

        (old_id,) = read_key_ids(key_file)
        rotated = ok(
            "admin",
            "rotate-master-key",
            "--passphrase-file",
            passphrase_file(tmp_path),
            *store_args,
            cwd=tmp_path,
        )
        assert rotated.startswith("New primary master key mk_")
        assert is_sealed_key_file(key_file)  # still sealed after the rotation
        new_id, _ = read_key_ids(key_file)
        with httpx.Client(base_url=server.base_url, headers=auth(api_key)) as client:
            body = {"type": "API_KEY", "data": {"key": "sk_live_after"}}
            assert client.put("/v0/vault/after", json=body).status_code == 200
            for i in range(20):
                assert (
                    client.get(f"/v0/vault/k-{i:02d}").json()["data"]["key"] == f"sk_live_{i:04d}"
                )
        status = json.loads(ok("admin", "key-status", "--json", *store_args, cwd=tmp_path))
        assert {k["keyId"]: k["credentials"] for k in status["keys"]} == {new_id: 21, old_id: 0}
        ok(
            "admin",
            "retire-key",
            old_id,
            "--passphrase-file",
            passphrase_file(tmp_path),
            *store_args,
            cwd=tmp_path,
        )
        assert read_key_ids(key_file) == [new_id]
        assert statuses(server, api_key) == {200}

        assert ok("admin", "seal", *store_args, cwd=tmp_path).startswith("Sealed")
        # Workers follow within their once-a-second check.
        eventually(lambda: statuses(server, api_key) == {503}, what="every worker sealing")
    finally:
        output = server.stop()

    # Nothing a stolen disk or the logs would give away.
    keys = read_keys(key_file, lambda: PASSPHRASE)
    everything = output.encode()
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            everything += path.read_bytes()
    for key in keys:
        assert key not in everything
        assert base64.b64encode(key) not in everything
    assert PASSPHRASE.encode() not in everything
    assert b"sk_live_0001" not in everything


def test_a_plain_vault_sealed_later_restarts_with_a_passphrase_file(
    store_args: list[str], tmp_path: Path
) -> None:
    server = start_server(*store_args, cwd=tmp_path)
    api_key = server.api_key or ""
    with httpx.Client(base_url=server.base_url, headers=auth(api_key)) as client:
        for i in range(5):
            body = {"type": "LOGIN", "data": {"password": f"pw-{i}"}}
            assert client.put(f"/v0/vault/l-{i}", json=body).status_code == 200
    server.stop()

    sealed = set_new_passphrase(tmp_path, store_args)
    assert "may survive in free disk blocks" in sealed  # and how to make it worthless
    server = start_server(
        *store_args, "--unseal-passphrase-file", passphrase_file(tmp_path), cwd=tmp_path
    )
    try:
        assert "unsealed with the passphrase file" in "".join(server.output)
        with httpx.Client(base_url=server.base_url, headers=auth(api_key)) as client:
            for i in range(5):
                assert client.get(f"/v0/vault/l-{i}").json()["data"]["password"] == f"pw-{i}"
    finally:
        server.stop()


def test_a_wrong_passphrase_file_stops_the_start_clearly(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    set_new_passphrase(tmp_path, data)
    wrong = passphrase_file(tmp_path, "something else entirely")
    port = str(free_port())
    result = loomal("serve", "--port", port, *data, "--unseal-passphrase-file", wrong, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: Wrong passphrase (or the sealed key file was altered)."
    assert "something else" not in result.stdout + result.stderr


def test_changing_the_passphrase_of_a_running_servers_file(tmp_path: Path) -> None:
    server, data = start_sealed_vault(tmp_path)
    try:
        api_key = server.api_key or ""
        short = loomal(
            "admin",
            "set-passphrase",
            "--passphrase-file",
            passphrase_file(tmp_path),
            "--new-passphrase-file",
            passphrase_file(tmp_path, "too short"),
            *data,
            cwd=tmp_path,
        )
        assert short.returncode == 1 and "at least 12 characters" in short.stderr
        changed = ok(
            "admin",
            "set-passphrase",
            "--passphrase-file",
            passphrase_file(tmp_path),
            "--new-passphrase-file",
            passphrase_file(tmp_path, NEW_PASSPHRASE),
            *data,
            cwd=tmp_path,
        )
        assert changed.startswith("Changed the passphrase")
        assert statuses(server, api_key) == {200}  # the running server keeps its keys
        ok("admin", "seal", *data, cwd=tmp_path)
        old = loomal(
            "admin", "unseal", "--passphrase-file", "-", *data, cwd=tmp_path, stdin=PASSPHRASE
        )
        assert old.returncode == 1 and "Wrong passphrase" in old.stderr
        ok("admin", "unseal", "--passphrase-file", "-", *data, cwd=tmp_path, stdin=NEW_PASSPHRASE)
        assert statuses(server, api_key) == {200}
        audit = json.loads(ok("admin", "audit", "--json", *data, cwd=tmp_path))
        by_hand = [(e["action"], e["outcome"]) for e in reversed(audit) if e["operator"]]
        assert by_hand[0] == ("seal", "ok") and by_hand[-1] == ("unseal", "ok")
        assert [a for a, outcome in by_hand if outcome != "ok"] == ["unseal"]  # the old one
        assert NEW_PASSPHRASE not in str(audit) and PASSPHRASE not in str(audit)
    finally:
        server.stop()


def test_admin_unseal_without_a_sealed_server_says_so(tmp_path: Path) -> None:
    result = loomal("admin", "unseal", "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    assert result.returncode == 1
    assert "No sealed server is listening" in result.stderr


def test_a_respawned_worker_gets_the_keys_without_another_unseal(tmp_path: Path) -> None:
    server, _ = start_sealed_vault(tmp_path, "--workers", "2")
    try:
        api_key = server.api_key or ""
        assert statuses(server, api_key) == {200}
        children = (
            Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
            .read_text()
            .split()
        )
        assert len(children) == 2
        os.kill(int(children[0]), signal.SIGKILL)  # a worker crashes
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # granian respawns it after a few seconds
            now = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
            fresh = set(now.read_text().split()) - set(children)
            if fresh:
                break
            time.sleep(0.2)
        assert fresh, "the worker was not respawned"
        # The new worker opens its store and asks the parent for the keys.
        eventually(lambda: statuses(server, api_key, n=40) == {200}, what="the new worker serving")
    finally:
        output = server.stop()
    assert PASSPHRASE not in output
