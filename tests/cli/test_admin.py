"""``loomal admin`` against a running server: rotation under load, key status, retiring."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, auth, eventually, loomal

pytestmark = pytest.mark.slow  # starts real server processes (not in make test-fast)


def test_rotation_while_serving_reads(server: ServerProcess, tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "server-data")]
    h = auth(server.api_key or "")
    with httpx.Client(base_url=server.base_url, headers=h) as client:
        for i in range(300):
            client.put(f"/v0/vault/r-{i:03d}", json={"type": "API_KEY", "data": {"key": f"k{i}"}})
    before = json.loads(loomal("admin", "key-status", "--json", *data, cwd=tmp_path).stdout)
    (old,) = before["keys"]
    assert old["primary"]
    assert old["credentials"] == 300
    assert not old["retirable"]

    failures: list[int] = []
    reads = 0
    stop = threading.Event()

    def reader() -> None:
        nonlocal reads
        with httpx.Client(base_url=server.base_url, headers=h) as client:
            while not stop.is_set():
                response = client.get(f"/v0/vault/r-{reads % 300:03d}")
                reads += 1
                if response.status_code != 200:
                    failures.append(response.status_code)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    interrupted = loomal(
        "admin",
        "rotate-master-key",
        "--batch-size",
        "50",
        "--max-batches",
        "2",
        *data,
        cwd=tmp_path,
    )
    resumed = loomal("admin", "rotate-master-key", "--batch-size", "50", *data, cwd=tmp_path)
    stop.set()
    for thread in threads:
        thread.join()
    assert interrupted.returncode == 0, interrupted.stderr
    assert "re-wrapped 100 data key(s)" in interrupted.stdout
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.startswith("Resumed rotation to mk_")
    assert "re-wrapped 200 data key(s)" in resumed.stdout
    assert reads > 100
    assert failures == []  # readers never saw an error during rotation

    status = json.loads(loomal("admin", "key-status", "--json", *data, cwd=tmp_path).stdout)
    primary = next(k for k in status["keys"] if k["primary"])
    retired = next(k for k in status["keys"] if not k["primary"])
    assert primary["credentials"] == 300
    assert retired["keyId"] == old["keyId"]
    assert retired["retirable"]

    refused = loomal("admin", "retire-key", primary["keyId"], *data, cwd=tmp_path)
    assert refused.returncode == 1
    assert "primary" in refused.stderr
    assert loomal("admin", "retire-key", old["keyId"], *data, cwd=tmp_path).returncode == 0
    with httpx.Client(base_url=server.base_url, headers=h) as client:
        assert client.get("/v0/vault/r-123").json()["data"] == {"key": "k123"}
        client.put("/v0/vault/after", json={"type": "API_KEY", "data": {"key": "a"}})
    final = json.loads(loomal("admin", "key-status", "--json", *data, cwd=tmp_path).stdout)
    assert [(k["keyId"], k["credentials"]) for k in final["keys"]] == [(primary["keyId"], 301)]
    assert final["keys"][0]["wraps"] >= 300  # the rotation's 300 re-wraps (+1 once flushed)
    assert final["keys"][0]["rotateSoon"] is False


def test_retiring_a_key_in_use_is_refused(server: ServerProcess, tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "server-data")]
    h = auth(server.api_key or "")
    for i in range(20):
        httpx.put(
            f"{server.base_url}/v0/vault/x-{i}",
            json={"type": "LOGIN", "data": {"password": "p"}},
            headers=h,
        )
    old = json.loads(loomal("admin", "key-status", "--json", *data, cwd=tmp_path).stdout)["keys"][0]
    partial = loomal(
        "admin", "rotate-master-key", "--batch-size", "5", "--max-batches", "1", *data, cwd=tmp_path
    )
    assert partial.returncode == 0
    refused = loomal("admin", "retire-key", old["keyId"], *data, cwd=tmp_path)
    assert refused.returncode == 1
    assert "still wraps 15 credential(s)" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_scheduled_rotation_runs_only_when_the_key_has_wrapped_enough(
    server: ServerProcess, tmp_path: Path
) -> None:
    data = ["--data-dir", str(tmp_path / "server-data")]
    with httpx.Client(base_url=server.base_url, headers=auth(server.api_key or "")) as client:
        for i in range(3):
            client.put(f"/v0/vault/s-{i}", json={"type": "API_KEY", "data": {"key": f"k{i}"}})

    def wrap_counts() -> list[dict[str, Any]]:
        status = loomal("admin", "key-status", "--json", *data, cwd=tmp_path).stdout
        keys: list[dict[str, Any]] = json.loads(status)["keys"]
        return keys

    # The server adds its wrap counts to the store once a second.
    eventually(lambda: wrap_counts()[0]["wraps"] == 3, what="the wrap counts' flush")
    (first,) = wrap_counts()

    skipped = loomal("admin", "rotate-master-key", "--if-wraps-over", "3", *data, cwd=tmp_path)
    assert skipped.returncode == 0, skipped.stderr
    assert skipped.stdout.strip() == (
        f"No rotation needed: {first['keyId']} has wrapped 3 data key(s), not over 3."
    )
    rotated = loomal("admin", "rotate-master-key", "--if-wraps-over", "2", *data, cwd=tmp_path)
    assert rotated.stdout.startswith("New primary master key mk_")
    assert "re-wrapped 3 data key(s)" in rotated.stdout
    status = json.loads(loomal("admin", "key-status", "--json", *data, cwd=tmp_path).stdout)
    (new,) = [key for key in status["keys"] if key["primary"]]
    assert new["wraps"] >= 3  # the credentials' data keys, and their kept versions' keys
    again = loomal(
        "admin", "rotate-master-key", "--if-wraps-over", str(new["wraps"]), *data, cwd=tmp_path
    )
    assert again.stdout.startswith("No rotation needed")


def test_rotation_rotates_every_readable_row_and_names_the_tampered_ones(
    server: ServerProcess, tmp_path: Path
) -> None:
    import sqlite3

    from tests.conftest import new_key

    data = ["--data-dir", str(tmp_path / "server-data")]
    api_key = new_key(
        "create", "billing-bot", "--scopes", "vault:read,vault:write", *data, cwd=tmp_path
    )
    with httpx.Client(base_url=server.base_url, headers=auth(api_key)) as client:
        for i in range(12):
            body = {"type": "LOGIN", "data": {"password": f"pw-rot-{i:02d}"}}
            assert client.put(f"/v0/vault/t-{i:02d}", json=body).status_code == 200
    with sqlite3.connect(tmp_path / "server-data" / "loomal.db") as conn:
        for name in ("t-03", "t-07"):  # someone flips a byte of two stored ciphertexts
            (wrapped,) = conn.execute(
                "SELECT wrapped_key FROM credentials WHERE name = ?", (name,)
            ).fetchone()
            flipped = bytes([wrapped[0] ^ 1]) + wrapped[1:]
            conn.execute("UPDATE credentials SET wrapped_key = ? WHERE name = ?", (flipped, name))
    (old,) = json.loads(loomal("admin", "key-status", "--json", *data, cwd=tmp_path).stdout)["keys"]

    rotated = loomal("admin", "rotate-master-key", "--batch-size", "5", *data, cwd=tmp_path)
    assert rotated.returncode != 0
    output = rotated.stdout + rotated.stderr
    assert "billing-bot/t-03" in output and "billing-bot/t-07" in output
    assert "re-wrapped 10 data key(s)" in output
    assert "pw-rot" not in output and "Traceback" not in output
    status = json.loads(loomal("admin", "key-status", "--json", *data, cwd=tmp_path).stdout)
    by_id = {k["keyId"]: k["credentials"] for k in status["keys"]}
    assert by_id[old["keyId"]] == 2  # only the tampered rows stay under the old key
    assert sum(by_id.values()) == 12
    with httpx.Client(base_url=server.base_url, headers=auth(api_key)) as client:
        assert client.get("/v0/vault/t-11").json()["data"] == {"password": "pw-rot-11"}


@pytest.mark.parametrize("terminal", [False, True], ids=["piped", "terminal"])
def test_audit_table_keeps_times_and_key_prefixes_whole_at_80_columns(
    server: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, terminal: bool
) -> None:
    key = server.api_key or ""
    stored = httpx.put(
        server.base_url + "/v0/vault/a-credential-with-a-long-name",
        json={"type": "API_KEY", "data": {"key": "k"}},
        headers=auth(key),
    )
    assert stored.status_code == 200  # a change: audited in its own transaction
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("TTY_COMPATIBLE", "1" if terminal else "0")
    monkeypatch.setenv("NO_COLOR", "1")
    data = ["--data-dir", str(tmp_path / "server-data")]
    shown = loomal("admin", "audit", "--action", "store", *data, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    table = re.sub(r"\x1b\[[0-9;]*m", "", shown.stdout)
    (event,) = json.loads(loomal("admin", "audit", "--json", *data, cwd=tmp_path).stdout)
    assert "…" not in table  # was `2026-…` and `loid-N7…`
    (row,) = [line for line in table.splitlines() if key[:13] in line]
    assert re.search(r"│ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d │", row)
    assert event["at"][:10] in row
    lines = table.splitlines()
    if terminal:
        assert max(len(line) for line in lines) <= 80
    else:  # piped: the whole row on one line
        assert event["identityName"] == "default" and " default " in row  # names, not ids
        assert "a-credential-with-a-long-name" in row
    status = loomal("admin", "key-status", *data, cwd=tmp_path)
    (key_id,) = [
        k["keyId"]
        for k in json.loads(loomal("admin", "key-status", "--json", *data, cwd=tmp_path).stdout)[
            "keys"
        ]
    ]
    assert f" {key_id} " in re.sub(r"\x1b\[[0-9;]*m", "", status.stdout)
