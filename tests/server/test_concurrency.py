"""Racing clients against real server processes sharing one store.

SQLite: one ``loomal serve --workers 2`` (two processes on one file).
PostgreSQL: two ``loomal serve`` processes on different ports, one database.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, auth, new_key, start_server

pytestmark = pytest.mark.slow  # starts real server processes (not in make test-fast)


@dataclass
class Cluster:
    servers: list[ServerProcess]
    api_key: str
    start_args: list[str]
    store_args: list[str]
    env: dict[str, str]
    cwd: Path

    @property
    def urls(self) -> list[str]:
        return [s.base_url for s in self.servers]

    def stop(self) -> None:
        for s in self.servers:
            s.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    env = {"LOOMAL_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}
    if request.param == "sqlite":
        store_args = ["--data-dir", str(tmp_path / "data")]
        args = [*store_args, "--workers", "2"]
        servers = [start_server(*args, cwd=tmp_path, env=env)]
    else:
        url = request.getfixturevalue("postgres_url")
        store_args = args = ["--data-dir", str(tmp_path / "data"), "--database-url", url]
        servers = [start_server(*args, cwd=tmp_path, env=env) for _ in range(2)]
    key = next(s.api_key for s in servers if s.api_key)
    cluster = Cluster(servers, key, args, store_args, env, tmp_path)
    yield cluster
    cluster.stop()


def race(urls: list[str], clients: int, work: object) -> list[httpx.Response]:
    """Run ``work(client, base_url)`` on ``clients`` threads released together."""
    barrier = threading.Barrier(clients)

    def one(index: int) -> httpx.Response:
        with httpx.Client(base_url=urls[index % len(urls)], timeout=30) as client:
            barrier.wait()
            return work(client)  # type: ignore[operator, no-any-return]

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, range(clients)))


@pytest.mark.parametrize(("clients", "codes"), [(50, 20), (64, 40)])
def test_each_backup_code_is_handed_out_exactly_once(
    cluster: Cluster, clients: int, codes: int
) -> None:
    h = auth(cluster.api_key)
    all_codes = [f"code-{i:03d}" for i in range(codes)]
    body = {"type": "TOTP", "data": {"secret": "JBSWY3DPEHPK3PXP", "backupCodes": all_codes}}
    assert httpx.put(cluster.urls[0] + "/v0/vault/shared", json=body, headers=h).is_success

    responses = race(
        cluster.urls, clients, lambda c: c.post("/v0/vault/shared/totp/backup", headers=h)
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: codes, 400: clients - codes}
    handed_out = [r.json()["code"] for r in responses if r.status_code == 200]
    assert sorted(handed_out) == all_codes  # every code once: none twice, none lost
    assert all(r.json()["reason"] == "no_backup_codes" for r in responses if r.status_code == 400)
    for url in cluster.urls:
        data = httpx.get(url + "/v0/vault/shared", headers=h).json()["data"]
        assert data["backupCodes"] == []
        assert data["usedBackupCodes"] == all_codes  # in the order they were stored
    # every pop kept a version (the newest 10 stay); restoring the oldest kept one
    # never hands a used code out again
    url = cluster.urls[-1]
    history = httpx.get(url + "/v0/vault/shared/versions", headers=h).json()["versions"]
    assert [v["version"] for v in history] == list(range(codes + 1, codes - 9, -1))
    assert {v["kind"] for v in history} == {"backup_code"}
    oldest = history[-1]["version"]
    assert httpx.post(f"{url}/v0/vault/shared/versions/{oldest}/restore", headers=h).is_success
    data = httpx.get(url + "/v0/vault/shared", headers=h).json()["data"]
    assert data["backupCodes"] == [] and data["usedBackupCodes"] == all_codes
    again = httpx.post(url + "/v0/vault/shared/totp/backup", headers=h)
    assert again.status_code == 400 and again.json()["reason"] == "no_backup_codes"


def test_racing_creates_and_overwrites_lose_nothing(cluster: Cluster) -> None:
    h = auth(cluster.api_key)
    counter = iter(range(10_000))
    lock = threading.Lock()

    def write(client: httpx.Client) -> httpx.Response:
        with lock:
            n = next(counter)
        return client.put(
            "/v0/vault/contended", json={"type": "LOGIN", "data": {"password": f"v{n}"}}, headers=h
        )

    responses = race(cluster.urls, 32, write)
    assert Counter(r.status_code for r in responses) == {200: 32}
    assert sorted(r.json()["version"] for r in responses) == list(range(1, 33))  # 1: created
    assert len({r.json()["credentialId"] for r in responses}) == 1
    final = {
        httpx.get(u + "/v0/vault/contended", headers=h).json()["data"]["password"]
        for u in cluster.urls
    }
    assert len(final) == 1


def test_servers_share_identities_and_writes(cluster: Cluster) -> None:
    key = new_key("create", "shared-bot", *cluster.store_args, cwd=cluster.cwd)
    h = auth(key)
    first, last = cluster.urls[0], cluster.urls[-1]
    assert httpx.get(last + "/v0/vault", headers=h).status_code == 200  # at once, everywhere
    httpx.put(
        first + "/v0/vault/moved", json={"type": "API_KEY", "data": {"key": "one"}}, headers=h
    )
    httpx.put(last + "/v0/vault/moved", json={"type": "API_KEY", "data": {"key": "two"}}, headers=h)
    assert httpx.get(first + "/v0/vault/moved", headers=h).json()["data"] == {"key": "two"}


def test_every_acknowledged_write_is_there_after_a_full_restart(cluster: Cluster) -> None:
    h = auth(cluster.api_key)

    def write(client: httpx.Client) -> httpx.Response:
        name = f"w-{threading.get_ident()}"
        return client.put(
            f"/v0/vault/{name}", json={"type": "LOGIN", "data": {"password": name}}, headers=h
        )

    responses = race(cluster.urls, 16, write)
    acknowledged = [r.json()["name"] for r in responses if r.status_code == 200]
    assert len(acknowledged) == 16
    cluster.stop()
    one = start_server(*cluster.start_args, cwd=cluster.cwd, env=cluster.env)
    try:
        for name in acknowledged:
            got = httpx.get(f"{one.base_url}/v0/vault/{name}", headers=h)
            assert got.json()["data"] == {"password": name}
    finally:
        one.stop()


def test_revocation_reaches_every_server_within_the_cache_bound(cluster: Cluster) -> None:
    import time

    key = new_key("create", "to-revoke", *cluster.store_args, cwd=cluster.cwd)
    for url in cluster.urls:  # warm every server's auth cache with the key
        assert httpx.get(url + "/v0/vault", headers=auth(key)).status_code == 200
    result = subprocess.run(
        [sys.executable, "-m", "loomal", "identity", "revoke", "to-revoke", *cluster.store_args],
        capture_output=True,
        text=True,
        cwd=cluster.cwd,
        timeout=60,
    )
    # From the command's exit (its commit), not its start: a process start on a loaded
    # machine took longer than the bound itself.
    revoked = time.monotonic()
    assert result.returncode == 0, result.stderr
    # The bound runs from the revocation's write, which the command made before it
    # exited: its own start-up (seconds on a loaded machine) is not part of it.
    revoked = time.monotonic()
    pending = set(cluster.urls)
    while pending:
        for url in list(pending):
            if httpx.get(url + "/v0/vault", headers=auth(key)).status_code == 401:
                pending.discard(url)
        assert time.monotonic() - revoked < 2.5, f"still accepted by {pending}"
        time.sleep(0.05)
