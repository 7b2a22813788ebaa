"""SQLite backup, PostgreSQL restore, then the official Python SDK (``loomal-sdk==0.6.2``)
reads every credential with the keys of before, and the TOTP codes match."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from loomal.core.totp import totp_code
from tests.conformance.test_official_sdk import official_python
from tests.conftest import auth, loomal, new_key, start_server

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SECRET = "JBSWY3DPEHPK3PXP"
STORED = {
    "stripe": {"type": "API_KEY", "data": {"key": "sk_live_restore"}},
    "db": {"type": "LOGIN", "data": {"username": "app", "password": "pw-restore"}},
    "github-2fa": {"type": "TOTP", "data": {"secret": SECRET, "backupCodes": ["a-1", "b-2"]}},
}


def test_the_official_sdk_reads_a_restored_vault(tmp_path: Path, postgres_url: str) -> None:
    python = official_python()
    data = tmp_path / "data"
    server = start_server("--data-dir", str(data), cwd=tmp_path)
    first = server.api_key
    assert first is not None
    try:
        second = new_key("create", "reader", "--data-dir", str(data), cwd=tmp_path)
        with httpx.Client(base_url=server.base_url, headers=auth(first)) as http:
            for name, body in STORED.items():
                assert http.put(f"/v0/vault/{name}", json=body).status_code == 200
            assert http.post("/v0/vault/github-2fa/totp/backup").json()["code"] == "a-1"
            before = {name: http.get(f"/v0/vault/{name}").json() for name in STORED}
            own = {"type": "API_KEY", "data": {"key": "reader-own"}}
            assert http.put("/v0/vault/own", json=own, headers=auth(second)).status_code == 200
        made = loomal(
            "admin", "backup", str(tmp_path / "v.backup"), "--data-dir", str(data), cwd=tmp_path
        )
        assert made.returncode == 0, made.stderr
    finally:
        server.stop()

    key_file = str(data / "master.key")
    pg = [
        "--data-dir",
        str(tmp_path / "pg"),
        "--database-url",
        postgres_url,
        "--master-key-file",
        key_file,
    ]
    done = loomal("admin", "restore", str(tmp_path / "v.backup"), *pg, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "into PostgreSQL at 127.0.0.1:5432" in done.stdout

    restored = start_server(*pg, cwd=tmp_path)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOMAL_", "PYTHON"))}
        env |= {"LOOMAL_API_KEY": first, "LOOMAL_API_URL": restored.base_url}
        names = ["stripe", "db", "totp:github-2fa"]
        read = subprocess.run(
            [str(python), str(Path(__file__).with_name("official_reader.py")), *names],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert read.returncode == 0, read.stdout + read.stderr
        seen = json.loads(read.stdout)
        for name, stored in before.items():
            assert seen[name]["data"] == stored["data"]
            assert seen[name]["id"] == stored["credentialId"]
            assert str(seen[name]["createdAt"])[:19] == stored["createdAt"][:19]
        assert seen["github-2fa"]["data"]["usedBackupCodes"] == ["a-1"]
        totp = seen["github-2fa#totp"]
        assert totp["code"] in {totp_code(SECRET, at=t).code for t in totp["between"]}
        with httpx.Client(base_url=restored.base_url) as http:  # the second key works too
            got = http.get("/v0/vault/own", headers=auth(second))
            assert got.status_code == 200 and got.json()["data"] == {"key": "reader-own"}
            assert http.get("/v0/vault/stripe", headers=auth("loid-" + "x" * 43)).status_code == 401
    finally:
        restored.stop()
