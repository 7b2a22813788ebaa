"""A killed `loomal serve` takes its workers with it: none goes on answering on
the port with the keys in memory, and each stops cleanly (its audit flushed)."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import auth, start_server

pytestmark = [
    pytest.mark.slow,  # starts real server processes (not in make test-fast)
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for workers"),
]


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                # ppid is the 2nd field after the parenthesised command name
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a reaped-by-init zombie counts as gone
    return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"


def test_workers_stop_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    server = start_server("--data-dir", str(tmp_path / "data"), "--workers", "2", cwd=tmp_path)
    try:
        assert server.api_key is not None
        h = auth(server.api_key)
        body = {"type": "API_KEY", "data": {"key": "sk_orphan_test_value"}}
        assert httpx.put(server.base_url + "/v0/vault/k", json=body, headers=h).status_code == 200
        reads = 20
        with httpx.Client(base_url=server.base_url, headers=h) as client:
            for _ in range(reads):  # spread over both workers; audited in batches
                assert client.get("/v0/vault/k").status_code == 200
        workers = children(server.process.pid)
        assert len(workers) == 2

        os.kill(server.process.pid, signal.SIGKILL)  # the supervisor only, as an OOM kill
        server.process.wait()
        deadline = time.monotonic() + 20
        while any(alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(w) for w in workers), "a worker outlived its supervisor"
        with pytest.raises(httpx.TransportError):
            httpx.get(server.base_url + "/v0/health", timeout=2)

        with sqlite3.connect(tmp_path / "data" / "loomal.db") as conn:
            (audited,) = conn.execute(
                "SELECT count(*) FROM audit_events WHERE action = 'get' AND credential_name = 'k'"
            ).fetchone()
        assert audited == reads  # each worker stopped cleanly: nothing it held was lost
    finally:
        server.stop()
