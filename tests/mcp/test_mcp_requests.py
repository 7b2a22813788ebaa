"""``vault_request`` on both transports, with the official client: an agent with a
vault:use key asks for a credential it lacks and gets the page where the user
fills it in; once a person has, ``vault_list`` shows it. Bad input is a tool error."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from loomal import Loomal
from tests.conftest import ServerProcess, new_key, start_server
from tests.mcp.conftest import mcp_session
from tests.mcp.test_mcp_fetch import tool_name

pytestmark = pytest.mark.slow  # starts real server processes


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    cwd = tmp_path_factory.mktemp("mcp-requests")
    data_dir = str(cwd / "data")
    server = start_server("--data-dir", data_dir, cwd=cwd)
    try:
        yield (
            server,
            new_key("add-key", "default", "--scopes", "vault:use", "--data-dir", data_dir, cwd=cwd),
        )
    finally:
        server.stop()


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_the_model_asks_for_a_missing_credential(
    transport: str, setup: tuple[ServerProcess, str]
) -> None:
    server, use_key = setup
    name = f"resend-{transport}"

    async def main() -> None:
        async with mcp_session(transport, server, use_key) as session:
            tools = {t.name for t in (await session.list_tools()).tools}
            request, listing = tool_name(tools, "request"), tool_name(tools, "list")
            bad = await session.call_tool(
                request, {"name": name, "type": "API_KEY", "reason": "x" * 501}
            )
            assert bad.is_error and "validation_error" in bad.content[0].text
            asked = await session.call_tool(
                request,
                {"name": name, "type": "API_KEY", "reason": "Send the weekly report",
                 "allowedHosts": ["api.resend.com"]},
            )  # fmt: skip
            assert not asked.is_error, asked.content[0].text
            created = asked.structured_content
            assert created["status"] == "pending"
            assert created["url"].endswith(f"/requests/{created['requestId']}")
            with Loomal(api_key=server.api_key, base_url=server.base_url) as person:
                await asyncio.to_thread(
                    person.requests.fulfill, created["requestId"], {"key": "re_123"}
                )
            listed = await session.call_tool(listing, {})
            names = [c["name"] for c in listed.structured_content["credentials"]]
            assert name in names

    asyncio.run(main())
