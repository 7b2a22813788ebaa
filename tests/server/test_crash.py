"""Crash safety: SIGKILL (supervisor and workers at once) while 16 clients write."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import auth, eventually, start_server

pytestmark = pytest.mark.slow  # starts real server processes (not in make test-fast)

CODES = [f"code-{i:04d}" for i in range(5000)]


def test_sigkill_during_concurrent_writes_loses_nothing_acknowledged(tmp_path: Path) -> None:
    args = ("--data-dir", str(tmp_path / "data"), "--workers", "2")
    server = start_server(*args, cwd=tmp_path)
    assert server.api_key is not None
    h = auth(server.api_key)
    body = {"type": "TOTP", "data": {"secret": "JBSWY3DPEHPK3PXP", "backupCodes": CODES}}
    assert httpx.put(server.base_url + "/v0/vault/codes", json=body, headers=h).status_code == 200

    acknowledged: list[str] = []
    popped: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(index: int) -> None:
        with httpx.Client(base_url=server.base_url, headers=h, timeout=5) as client:
            n = 0
            while not stop.is_set():
                try:
                    if index % 4 == 0:
                        response = client.post("/v0/vault/codes/totp/backup")
                        if response.status_code == 200:
                            with lock:
                                popped.append(response.json()["code"])
                        continue
                    name = f"w{index:02d}-{n:05d}"
                    n += 1
                    response = client.put(
                        f"/v0/vault/{name}", json={"type": "LOGIN", "data": {"password": name}}
                    )
                    if response.status_code == 200:
                        with lock:
                            acknowledged.append(name)
                except httpx.TransportError:
                    return  # the server is gone

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()

    # Kill in the middle of the traffic, once enough of it was acknowledged (a count,
    # not a time: a loaded machine only makes the wait longer).
    def enough() -> bool:
        with lock:
            return len(acknowledged) > 50 and len(popped) > 10

    try:
        eventually(enough, timeout=120, what="50 acknowledged writes and 10 pops")
    finally:
        server.kill()
        stop.set()
        for thread in threads:
            thread.join()
    assert len(acknowledged) > 50
    assert len(popped) > 10

    database = tmp_path / "data" / "loomal.db"
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    again = start_server(*args, cwd=tmp_path)
    try:
        with httpx.Client(base_url=again.base_url, headers=h, timeout=10) as client:
            for name in acknowledged:
                got = client.get(f"/v0/vault/{name}")
                assert got.status_code == 200, name
                assert got.json()["data"] == {"password": name}
            data = client.get("/v0/vault/codes").json()["data"]
        assert set(popped) <= set(data["usedBackupCodes"])  # every code handed out stays used
        assert not set(popped) & set(data["backupCodes"])
        assert len(data["usedBackupCodes"]) + len(data["backupCodes"]) == len(CODES)
    finally:
        again.stop()


def test_sigkill_during_rotation_then_rotation_completes(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    args = ("--data-dir", str(tmp_path / "data"), "--workers", "2")
    database = tmp_path / "data" / "loomal.db"
    server = start_server(*args, cwd=tmp_path)
    h = auth(server.api_key or "")
    total = 3000
    with httpx.Client(base_url=server.base_url, headers=h, timeout=10) as client:
        for i in range(total):
            client.put(f"/v0/vault/k-{i:04d}", json={"type": "API_KEY", "data": {"key": f"v{i}"}})
    with sqlite3.connect(database) as conn:
        (old_key,) = conn.execute("SELECT DISTINCT key_id FROM credentials").fetchone()

    acknowledged: list[str] = []
    unanswered: list[str] = []  # the request in flight when the server was killed
    stop = threading.Event()

    def writer() -> None:
        with httpx.Client(base_url=server.base_url, headers=h, timeout=5) as client:
            n = 0
            while not stop.is_set():
                name = f"during-{n:05d}"
                n += 1
                try:
                    response = client.put(
                        f"/v0/vault/{name}", json={"type": "LOGIN", "data": {"password": name}}
                    )
                except httpx.TransportError:
                    unanswered.append(name)
                    return
                if response.status_code == 200:
                    acknowledged.append(name)

    writing = threading.Thread(target=writer)
    writing.start()
    rotation = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loomal",
            "admin",
            "rotate-master-key",
            "--batch-size",
            "10",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    watcher = sqlite3.connect(database)
    deadline = time.monotonic() + 60  # two workers, a writer and the rotation share 2 cores
    while True:  # crash once some rows are under the new key and some are not
        (moved,) = watcher.execute(
            "SELECT count(*) FROM credentials WHERE key_id != ?", (old_key,)
        ).fetchone()
        if moved >= 50:
            break
        if rotation.poll() is not None or time.monotonic() > deadline:
            rotation.kill()
            out, err = rotation.communicate()
            raise AssertionError(f"rotation made no progress ({moved} moved):\n{out}\n{err}")
        time.sleep(0.005)
    watcher.close()
    assert rotation.poll() is None, "the rotation ended before the crash"
    server.kill()
    rotation.kill()
    rotation.wait()
    stop.set()
    writing.join()
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (under_old,) = conn.execute(
            "SELECT count(*) FROM credentials WHERE key_id = ?", (old_key,)
        ).fetchone()
    assert under_old > 0  # the crash really left the rotation half done

    again = start_server(*args, cwd=tmp_path)
    try:
        with httpx.Client(base_url=again.base_url, headers=h, timeout=10) as client:
            for i in range(0, total, 11):  # readable mid-rotation, old key and new
                assert client.get(f"/v0/vault/k-{i:04d}").json()["data"] == {"key": f"v{i}"}
        finish = subprocess.run(
            [
                sys.executable,
                "-m",
                "loomal",
                "admin",
                "rotate-master-key",
                "--data-dir",
                str(tmp_path / "data"),
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,
        )
        assert finish.returncode == 0, finish.stderr
        assert finish.stdout.startswith("Resumed rotation to mk_")
        status = json.loads(
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "loomal",
                    "admin",
                    "key-status",
                    "--json",
                    "--data-dir",
                    str(tmp_path / "data"),
                ],
                capture_output=True,
                text=True,
                cwd=tmp_path,
                check=True,
            ).stdout
        )
        primary = next(k for k in status["keys"] if k["primary"])
        with httpx.Client(base_url=again.base_url, headers=h, timeout=10) as client:
            # Every acknowledged write survived; the one in flight at the kill may have
            # been committed without its answer getting out, and nothing else was.
            in_flight = [n for n in unanswered if client.get(f"/v0/vault/{n}").status_code == 200]
            assert primary["credentials"] == total + len(acknowledged) + len(in_flight)
            for i in range(0, total, 7):
                assert client.get(f"/v0/vault/k-{i:04d}").json()["data"] == {"key": f"v{i}"}
            for name in acknowledged:
                assert client.get(f"/v0/vault/{name}").json()["data"] == {"password": name}
    finally:
        again.stop()
