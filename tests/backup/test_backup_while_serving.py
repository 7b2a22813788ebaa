"""A backup taken while 8 clients write and 8 pop backup codes on a real server:
restored, it holds every write acknowledged before the backup began, no torn
credential, and no backup code both unused and used."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import auth, loomal, start_server

pytestmark = pytest.mark.slow

CLIENTS = 8
CODES = 400


@dataclass
class Acked:
    """What the server acknowledged, with when (monotonic seconds)."""

    writes: list[tuple[float, str, str]] = field(default_factory=list)
    """(time, name, password)"""
    latest: list[tuple[float, int, int]] = field(default_factory=list)
    """(time, client, n): w{client}-latest overwritten with n"""
    pops: list[tuple[float, int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _writer(base: str, key: str, client: int, acked: Acked, stop: threading.Event) -> None:
    with httpx.Client(base_url=base, headers=auth(key), timeout=30) as http:
        n = 0
        while not stop.is_set():
            name, password = f"w{client}-{n}", f"pw-{client}-{n}"
            answer = http.put(
                f"/v0/vault/{name}", json={"type": "LOGIN", "data": {"password": password}}
            )
            latest = http.put(
                f"/v0/vault/w{client}-latest", json={"type": "LOGIN", "data": {"password": str(n)}}
            )
            now = time.monotonic()
            assert answer.status_code == 200 and latest.status_code == 200, answer.text
            with acked.lock:
                acked.writes.append((now, name, password))
                acked.latest.append((now, client, n))
            n += 1


def _popper(base: str, key: str, client: int, acked: Acked, stop: threading.Event) -> None:
    with httpx.Client(base_url=base, headers=auth(key), timeout=30) as http:
        while not stop.is_set():
            answer = http.post(f"/v0/vault/totp-{client}/totp/backup")
            now = time.monotonic()
            if answer.status_code != 200:  # all used
                return
            with acked.lock:
                acked.pops.append((now, client, answer.json()["code"]))


def _codes(client: int) -> list[str]:
    return [f"c{client}-{n:04d}" for n in range(CODES)]


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_backup_while_writing_and_popping(
    tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    """Restored into a fresh SQLite data dir, whichever store served."""
    data = tmp_path / "data"
    where = ["--data-dir", str(data)]
    if store == "postgres":
        where += ["--database-url", request.getfixturevalue("postgres_url")]
    server = start_server(*where, cwd=tmp_path)
    key = server.api_key
    assert key is not None
    acked, stop = Acked(), threading.Event()
    try:
        with httpx.Client(base_url=server.base_url, headers=auth(key)) as http:
            for client in range(CLIENTS):
                body = {
                    "type": "TOTP",
                    "data": {"secret": "JBSWY3DPEHPK3PXP", "backupCodes": _codes(client)},
                }
                assert http.put(f"/v0/vault/totp-{client}", json=body).status_code == 200
        threads = [
            threading.Thread(target=work, args=(server.base_url, key, client, acked, stop))
            for client in range(CLIENTS)
            for work in (_writer, _popper)
        ]
        for thread in threads:
            thread.start()
        while True:  # until every client has had some of its work acknowledged
            with acked.lock:
                writers = {c for _, c, _ in acked.latest}
                poppers = {c for _, c, _ in acked.pops}
            if len(writers) == len(poppers) == CLIENTS:
                break
            time.sleep(0.01)
        began = time.monotonic()
        made = loomal("admin", "backup", str(tmp_path / "vault.backup"), *where, cwd=tmp_path)
        ended = time.monotonic()
        assert made.returncode == 0, made.stderr
        while True:  # and some after the backup ended
            with acked.lock:
                if acked.writes[-1][0] > ended and acked.pops[-1][0] > ended:
                    break
            time.sleep(0.01)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        server.stop()

    restored = tmp_path / "restored"
    key_file = str(data / "master.key")
    done = loomal(
        "admin", "restore", str(tmp_path / "vault.backup"), "--data-dir", str(restored),
        "--master-key-file", key_file, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    checked = loomal(
        "admin", "verify", "--data-dir", str(restored), "--master-key-file", key_file, cwd=tmp_path
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

    again = start_server("--data-dir", str(restored), "--master-key-file", key_file, cwd=tmp_path)
    try:
        with httpx.Client(base_url=again.base_url, headers=auth(key), timeout=30) as http:
            before = {name for t, name, _ in acked.writes if t < began}
            assert before
            for _, name, password in acked.writes:  # present if acked before; never torn
                got = http.get(f"/v0/vault/{name}")
                if got.status_code == 404:
                    assert name not in before  # written while or after the backup ran
                    continue
                assert got.status_code == 200, got.text
                assert got.json()["data"] == {"password": password}
            for client in range(CLIENTS):
                latest = http.get(f"/v0/vault/w{client}-latest").json()
                acked_before = max(n for t, c, n in acked.latest if c == client and t < began)
                assert int(latest["data"]["password"]) >= acked_before

                totp = http.get(f"/v0/vault/totp-{client}").json()["data"]
                unused, used = totp["backupCodes"], totp["usedBackupCodes"]
                assert not set(unused) & set(used)
                assert used + unused == _codes(client)  # popped in order, none lost
                popped_before = [code for t, c, code in acked.pops if c == client and t < began]
                assert set(popped_before) <= set(used)
    finally:
        again.stop()
