"""OAuth over MCP, both transports: ``vault_get`` hands out a refreshed (live) access
token and never the client secret or refresh token; a credential whose refresh
token the provider refused answers a tool error that says a person must connect
it again."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, auth, start_server
from tests.mcp.conftest import mcp_session
from tests.oauth.conftest import oauth_body
from tests.oauth.provider import CLIENT_SECRET, Provider, running_provider

pytestmark = pytest.mark.slow  # starts real server processes


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Provider]]:
    cwd: Path = tmp_path_factory.mktemp("mcp-oauth")
    with running_provider(time.time, ttl=3600) as provider:
        args = ["--data-dir", str(cwd / "data"), "--fetch-allow-private", "127.0.0.1"]
        server = start_server(*args, cwd=cwd)
        try:
            yield server, provider
        finally:
            assert CLIENT_SECRET not in server.stop()


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_live_tokens_and_needs_reauth_over_mcp(
    transport: str, setup: tuple[ServerProcess, Provider]
) -> None:
    server, provider = setup
    assert server.api_key is not None
    access, refresh = provider.state.issue_family()
    body = oauth_body(access, refresh, provider.token_url, time.time() - 5)  # expired
    headers = auth(server.api_key)
    assert httpx.put(f"{server.base_url}/v0/vault/crm-{transport}", json=body, headers=headers)
    access2, refresh2 = provider.state.issue_family()
    dead = oauth_body(access2, refresh2, provider.token_url, time.time() - 5)
    provider.state.revoked_families.add(provider.state.refresh_family[refresh2])
    httpx.put(f"{server.base_url}/v0/vault/dead-{transport}", json=dead, headers=headers)

    async def main() -> None:
        async with mcp_session(transport, server, server.api_key or "") as session:
            got = await session.call_tool("vault_get", {"name": f"crm-{transport}"})
            assert not got.is_error, got.content[0].text
            text = got.content[0].text
            token = json.loads(text)["data"]["accessToken"]
            assert token != access and provider.state.is_live(token)
            assert CLIENT_SECRET not in text and refresh not in text
            refused = await session.call_tool("vault_get", {"name": f"dead-{transport}"})
            assert refused.is_error
            message = refused.content[0].text
            assert message.startswith("needs_reauth"), message
            assert "connect it again" in message and refresh2 not in message

    asyncio.run(main())
