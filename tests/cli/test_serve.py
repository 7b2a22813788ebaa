"""``loomal serve`` and ``loomal identity`` as a new user meets them: real processes."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, auth, free_port, loomal, start_server

pytestmark = pytest.mark.slow  # starts real server processes (not in make test-fast)

SEED_CURLS = [
    (
        "PUT",
        "stripe",
        '{\n    "type": "API_KEY",\n    "data": { "key": "sk_live_abc123..." },\n'
        '    "metadata": { "service": "stripe", "prefix": "sk_live_...c123" }\n  }',
    ),
    (
        "PUT",
        "github",
        '{\n    "type": "LOGIN",\n    "data": { "password": "s3cret!" },\n'
        '    "metadata": { "uri": "https://github.com", "username": "agent-bot" }\n  }',
    ),
    (
        "PUT",
        "github-2fa",
        '{\n    "type": "TOTP",\n    "data": { "secret": "JBSWY3DPEHPK3PXP" },\n'
        '    "metadata": { "issuer": "GitHub", "account": "agent-bot" }\n  }',
    ),
]


def test_first_start_creates_key_file_and_prints_a_working_key(
    server: ServerProcess, tmp_path: Path
) -> None:
    output = "".join(server.output)
    data_dir = tmp_path / "server-data"
    key_file = data_dir / "master.key"
    assert f"generated {key_file}" in output
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "loomal.db").stat().st_mode) == 0o600
    assert len(base64.b64decode(key_file.read_text())) == 32
    assert server.api_key is not None
    assert len(server.api_key) >= len("loid-") + 32
    assert f"export LOOMAL_API_KEY={server.api_key}" in output
    response = httpx.get(server.base_url + "/v0/vault", headers=auth(server.api_key))
    assert response.json() == {"credentials": [], "count": 0}
    assert not any(c.isdigit() for c in response.headers.get("server", ""))  # no version banner


def test_second_start_prints_no_key_and_keeps_data(server: ServerProcess, tmp_path: Path) -> None:
    assert server.api_key is not None
    httpx.put(
        server.base_url + "/v0/vault/kept",
        json={"type": "LOGIN", "data": {"password": "p"}},
        headers=auth(server.api_key),
    )
    server.stop()
    again = start_server("--data-dir", str(tmp_path / "server-data"), cwd=tmp_path)
    try:
        assert again.api_key is None
        assert "generated" not in "".join(again.output)
        got = httpx.get(again.base_url + "/v0/vault/kept", headers=auth(server.api_key))
        assert got.json()["data"] == {"password": "p"}
    finally:
        again.stop()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_seed_curl_examples_verbatim(server: ServerProcess) -> None:
    assert server.api_key is not None
    for method, name, body in SEED_CURLS:
        result = subprocess.run(
            [
                "curl",
                "-s",
                "-X",
                method,
                f"{server.base_url}/v0/vault/{name}",
                "-H",
                f"Authorization: Bearer {server.api_key}",
                "-H",
                "Content-Type: application/json",
                "-d",
                body,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        stored = json.loads(result.stdout)
        assert stored["name"] == name
        assert stored["credentialId"].startswith("cred_")
        assert stored["metadata"] == json.loads(body)["metadata"]
    retrieved = subprocess.run(
        [
            "curl",
            "-s",
            f"{server.base_url}/v0/vault/stripe",
            "-H",
            f"Authorization: Bearer {server.api_key}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(retrieved.stdout)["data"] == {"key": "sk_live_abc123..."}


def test_identity_commands_work_against_a_running_server(
    server: ServerProcess, tmp_path: Path
) -> None:
    data = ["--data-dir", str(tmp_path / "server-data")]
    created = loomal(
        "identity", "create", "reader-bot", "--scopes", "vault:read", *data, cwd=tmp_path
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("loid-")
    assert httpx.get(server.base_url + "/v0/vault", headers=auth(key)).status_code == 200
    denied = httpx.put(
        server.base_url + "/v0/vault/x",
        json={"type": "LOGIN", "data": {"password": "p"}},
        headers=auth(key),
    )
    assert denied.status_code == 403

    as_json = loomal("identity", "create", "json-bot", "--json", *data, cwd=tmp_path)
    parsed = json.loads(as_json.stdout)
    assert set(parsed) == {"identityId", "name", "apiKey", "scopes", "label"}
    assert parsed["scopes"] == ["vault:read", "vault:write"]

    listing = loomal("identity", "list", "--json", *data, cwd=tmp_path)
    names = {i["name"]: i for i in json.loads(listing.stdout)}
    assert {"default", "reader-bot", "json-bot"} <= set(names)
    assert key not in listing.stdout
    assert names["reader-bot"]["keys"][0]["prefix"] == key[:13]

    duplicate = loomal("identity", "create", "reader-bot", *data, cwd=tmp_path)
    assert duplicate.returncode == 1
    assert "already exists" in duplicate.stderr
    assert "Traceback" not in duplicate.stderr

    revoked = loomal("identity", "revoke", key[:13], *data, cwd=tmp_path)
    assert revoked.returncode == 0, revoked.stderr
    deadline = time.monotonic() + 2.5  # the default auth-cache bound is 2 s
    while httpx.get(server.base_url + "/v0/vault", headers=auth(key)).status_code != 401:
        assert time.monotonic() < deadline, "revocation not effective within the cache bound"
        time.sleep(0.1)


def test_identity_with_expiry_and_bad_input(server: ServerProcess, tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "server-data")]
    bad_scope = loomal("identity", "create", "x", "--scopes", "vault:admin", *data, cwd=tmp_path)
    assert bad_scope.returncode == 1
    assert "vault:admin" in bad_scope.stderr
    past = loomal("identity", "create", "y", "--expires-at", "2020-01-01", *data, cwd=tmp_path)
    assert past.returncode == 1
    assert "future" in past.stderr
    soon = loomal(
        "identity", "create", "z", "--expires-at", "2999-01-01T00:00:00Z", *data, cwd=tmp_path
    )
    key = soon.stdout.strip().splitlines()[-1]
    assert httpx.get(server.base_url + "/v0/vault", headers=auth(key)).status_code == 200
    listing = json.loads(loomal("identity", "list", "--json", *data, cwd=tmp_path).stdout)
    z = next(i for i in listing if i["name"] == "z")
    assert z["keys"][0]["expiresAt"] == "2999-01-01T00:00:00Z"


def test_acknowledged_writes_survive_sigkill(server: ServerProcess, tmp_path: Path) -> None:
    assert server.api_key is not None
    h = auth(server.api_key)
    for i in range(20):
        response = httpx.put(
            f"{server.base_url}/v0/vault/durable-{i}",
            json={"type": "LOGIN", "data": {"password": f"pw-{i}"}},
            headers=h,
        )
        assert response.status_code == 200
    server.kill()
    again = start_server("--data-dir", str(tmp_path / "server-data"), cwd=tmp_path)
    try:
        for i in range(20):
            got = httpx.get(f"{again.base_url}/v0/vault/durable-{i}", headers=h)
            assert got.json()["data"] == {"password": f"pw-{i}"}
    finally:
        again.stop()


def test_last_used_and_audit_are_flushed_on_clean_stop(
    server: ServerProcess, tmp_path: Path
) -> None:
    assert server.api_key is not None
    h = auth(server.api_key)
    httpx.put(
        server.base_url + "/v0/vault/used",
        json={"type": "LOGIN", "data": {"password": "p"}},
        headers=h,
    )
    used_at = httpx.get(server.base_url + "/v0/vault/used", headers=h).json()["lastUsedAt"]
    server.stop()  # SIGTERM straight after the read, well inside the 1 s flush interval
    audit = loomal(
        "admin",
        "audit",
        "--action",
        "get",
        "--json",
        "--data-dir",
        str(tmp_path / "server-data"),
        cwd=tmp_path,
    )
    assert audit.returncode == 0, audit.stderr
    (event,) = json.loads(audit.stdout)  # the read's audit event was flushed too
    assert (event["credentialName"], event["outcome"], event["client"]) == (
        "used",
        "ok",
        "127.0.0.1",
    )
    again = start_server("--data-dir", str(tmp_path / "server-data"), cwd=tmp_path)
    try:
        listed = httpx.get(again.base_url + "/v0/vault", headers=h).json()["credentials"]
        assert listed[0]["lastUsedAt"] == used_at
    finally:
        again.stop()


def test_wrong_master_key_is_refused_at_start(server: ServerProcess, tmp_path: Path) -> None:
    assert server.api_key is not None
    httpx.put(
        server.base_url + "/v0/vault/x",
        json={"type": "LOGIN", "data": {"password": "p"}},
        headers=auth(server.api_key),
    )
    server.stop()
    other_key = base64.b64encode(os.urandom(32)).decode()
    result = subprocess.run(
        [
            *(sys.executable, "-m", "loomal", "serve", "--port", str(free_port())),
            *("--data-dir", str(tmp_path / "server-data")),
        ],
        env={**os.environ, "LOOMAL_MASTER_KEY": other_key},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "master key" in result.stderr
    assert other_key not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_busy_port_gives_one_clear_line(server: ServerProcess, tmp_path: Path) -> None:
    port = server.base_url.rsplit(":", 1)[1]
    result = loomal("serve", "--port", port, "--data-dir", str(tmp_path / "other"), cwd=tmp_path)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def _stop(process: subprocess.Popen[str]) -> float:
    """SIGTERM, as a service manager stops it; seconds until it exited (killed after 45)."""
    started = time.monotonic()
    process.terminate()
    try:
        process.wait(45)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return time.monotonic() - started


def test_a_stop_right_after_start_ends_the_server(tmp_path: Path) -> None:
    """A worker still starting can miss the stop (a granian race): the server then
    kills it after its grace period instead of waiting for it forever."""
    process = subprocess.Popen(
        [sys.executable, "-m", "loomal", "serve", "--port", str(free_port()), "--workers", "2"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    while not process.stdout.readline().startswith("Listening on"):
        assert process.poll() is None
    assert _stop(process) < 40  # 30 s grace for requests in flight, then killed
