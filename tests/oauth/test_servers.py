"""OAuth against real ``loomal serve`` processes: two servers on one PostgreSQL (and
two workers on one SQLite file) hand out one refresh's token to 50 concurrent
agents over real HTTP; the SDKs' and the CLI's OAuth surfaces end to end."""

from __future__ import annotations

import asyncio
import base64
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from click.testing import CliRunner

from loomal import AsyncLoomal, ConflictError, Loomal
from loomal.cli import main
from tests.conftest import ServerProcess, auth, start_server
from tests.oauth.conftest import oauth_body
from tests.oauth.provider import CLIENT_ID, CLIENT_SECRET, Provider, running_provider

pytestmark = pytest.mark.slow  # starts real server processes

PUBLIC_URL = "https://vault.example.test:9443/loomal"
"""Where browsers reach the server (a proxy in front): the redirect URI's origin."""
AGENTS = 50
ROUNDS = 4


@dataclass
class Cluster:
    servers: list[ServerProcess]
    api_key: str

    @property
    def urls(self) -> list[str]:
        return [s.base_url for s in self.servers]


@pytest.fixture
def provider() -> Iterator[Provider]:
    with running_provider(time.time, ttl=3600) as found:
        yield found


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    env = {"LOOMAL_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}
    common = ["--fetch-allow-private", "127.0.0.1"]
    if request.param == "sqlite":
        args = ["--data-dir", str(tmp_path / "data"), "--workers", "2", *common]
        servers = [start_server(*args, cwd=tmp_path, env=env)]
    else:
        url = request.getfixturevalue("postgres_url")
        args = ["--data-dir", str(tmp_path / "data"), "--database-url", url, *common]
        servers = [start_server(*args, cwd=tmp_path, env=env) for _ in range(2)]
    key = next(s.api_key for s in servers if s.api_key)
    yield Cluster(servers, key)
    for server in servers:
        server.stop()


def test_fifty_agents_on_real_servers_one_refresh_each_time(
    cluster: Cluster, provider: Provider
) -> None:
    headers = auth(cluster.api_key)
    state = provider.state
    stale = 0
    # One client per agent thread: a client's connection pool shared by fifty threads
    # once read from a connection another thread had just closed (EBADF in httpcore).
    local = threading.local()
    clients: list[httpx.Client] = []

    def own_client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=30)
            clients.append(local.client)
        client: httpx.Client = local.client
        return client

    with httpx.Client(timeout=30) as http, ThreadPoolExecutor(AGENTS) as pool:
        for round_ in range(ROUNDS):
            access, refresh = state.issue_family()
            body = oauth_body(access, refresh, provider.token_url, time.time() - 1)
            stored = http.put(f"{cluster.urls[0]}/v0/vault/crm", json=body, headers=headers)
            assert stored.status_code == 200, stored.text

            def agent(i: int) -> str:
                url = cluster.urls[i % len(cluster.urls)]
                got = own_client().get(f"{url}/v0/vault/crm", headers=headers)
                assert got.status_code == 200, got.text
                token: str = got.json()["data"]["accessToken"]
                return token

            tokens = list(pool.map(agent, range(AGENTS)))
            stale += sum(not state.is_live(t) for t in tokens)
            assert state.refreshes == round_ + 1, f"round {round_}: {state.refreshes} refreshes"
    for client in clients:
        client.close()
    assert stale == 0 and state.reuse_detected == 0 and state.revoked_families == set()
    print(
        f"\nreal servers {len(cluster.urls)}: {ROUNDS} expiries x {AGENTS} agents, "
        f"{state.refreshes} refreshes, {state.reuse_detected} revocations, {stale} stale"
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    args = ["--data-dir", str(tmp_path / "data"), "--fetch-allow-private", "127.0.0.1"]
    proc = start_server(*args, "--public-url", PUBLIC_URL, cwd=tmp_path)
    yield proc
    proc.stop()


def test_sdk_sync_async_and_cli(server: ServerProcess, provider: Provider, tmp_path: Path) -> None:
    access, refresh = provider.state.issue_family()
    body = oauth_body(access, refresh, provider.token_url, time.time() + 3000)
    with Loomal(api_key=server.api_key, base_url=server.base_url) as client:
        client.vault.store("crm", **body)
        assert client.vault.oauth_status("crm").oauth_status == "live"
        state = client.vault.oauth_refresh("crm")
        assert state.version == 2 and provider.state.refreshes == 1

    async def run_async() -> None:
        async with AsyncLoomal(api_key=server.api_key, base_url=server.base_url) as client:
            state = await client.vault.oauth_refresh("crm")
            assert state.version == 3
            assert (await client.vault.oauth_status("crm")).version == 3

    asyncio.run(run_async())
    env = {"LOOMAL_API_KEY": server.api_key or "", "LOOMAL_API_URL": server.base_url}
    runner = CliRunner()
    shown = runner.invoke(main, ["vault", "oauth", "status", "crm"], env=env)
    assert shown.exit_code == 0 and "crm: live" in shown.output, shown.output
    refreshed = runner.invoke(main, ["vault", "oauth", "refresh", "crm", "--json"], env=env)
    assert refreshed.exit_code == 0 and '"version":4' in refreshed.output
    assert provider.state.refreshes == 3
    # connect a new credential from the command line, the person approving at the provider
    secret_file = tmp_path / "secret"
    secret_file.write_text(CLIENT_SECRET)
    connect = [
        "vault", "oauth", "connect", "mail", "--client-id", CLIENT_ID,
        "--client-secret", f"@{secret_file}", "--token-url", provider.token_url,
        "--authorize-url", provider.authorize_url, "--scopes", "read",
    ]  # fmt: skip
    started = runner.invoke(main, connect, env=env)
    assert started.exit_code == 0, started.output
    url = next(line for line in started.output.splitlines() if line.startswith("http"))
    back = httpx.get(url).headers["location"]
    assert back.startswith(f"{PUBLIC_URL}/v0/oauth/callback?")  # from --public-url
    page = httpx.get(server.base_url + "/v0/oauth/callback?" + urlsplit(back).query)
    assert page.status_code == 200 and "mail" in page.text
    with Loomal(api_key=server.api_key, base_url=server.base_url) as client:
        assert provider.state.is_live(client.vault.get("mail").data["accessToken"])
        provider.state.revoked_families.update(provider.state.refresh_family.values())
        with pytest.raises(ConflictError) as needs:
            client.vault.oauth_refresh("mail")
        assert needs.value.code == "needs_reauth"
    shown = runner.invoke(main, ["vault", "oauth", "status", "mail"], env=env)
    assert "needs_reauth" in shown.output and "connect" in shown.output
