"""Crash safety: SIGKILL (supervisor and workers at once) while 16 clients write."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import httpx

from tests.conftest import auth, start_server

CODES = [f"code-{i:04d}" for i in range(5000)]


def test_sigkill_during_concurrent_writes_loses_nothing_acknowledged(tmp_path: Path) -> None:
    args = ("--data-dir", str(tmp_path / "data"), "--workers", "2")
    server = start_server(*args, cwd=tmp_path)
    assert server.api_key is not None
    h = auth(server.api_key)
    body = {"type": "TOTP", "data": {"secret": "JBSWY3DPEHPK3PXP", "backupCodes": CODES}}
    assert httpx.put(server.base_url + "/v0/vault/codes", json=body, headers=h).status_code == 201

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
                    if response.status_code == 201:
                        with lock:
                            acknowledged.append(name)
                except httpx.TransportError:
                    return  # the server is gone

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
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
