"""``vault_fetch`` and the ``vault:use`` scope over MCP, both transports, with the
official client: a use-only key makes a brokered request and gets the answer
scrubbed, and ``vault_get`` refuses it with the brokered way named."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from loomal import Loomal
from tests.conftest import ServerProcess, new_key, start_server
from tests.mcp.conftest import mcp_session
from tests.upstream import Upstream, running_upstream

pytestmark = pytest.mark.slow  # starts real server processes

KEY = "sk_live_mcp/" + "Zx4+" * 8


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, str, Upstream]]:
    cwd = tmp_path_factory.mktemp("mcp-fetch")
    data_dir = str(cwd / "data")
    with running_upstream() as upstream:
        server = start_server("--data-dir", data_dir, "--fetch-allow-private", "127.0.0.1", cwd=cwd)
        try:
            with Loomal(api_key=server.api_key, base_url=server.base_url) as admin:
                admin.vault.store(
                    "stripe",
                    type="API_KEY",
                    data={"key": KEY},
                    metadata={"allowedHosts": ["127.0.0.1"]},
                )
            use_key = new_key(
                "add-key", "default", "--scopes", "vault:use", "--data-dir", data_dir, cwd=cwd
            )
            yield server, use_key, upstream
        finally:
            assert KEY not in server.stop()


def tool_name(names: set[str], base: str) -> str:
    """The listed spelling of a tool (``vault_fetch``, or the seed's dotted one)."""
    for candidate in (f"vault_{base}", f"vault.{base}"):
        if candidate in names:
            return candidate
    raise AssertionError(f"no {base} tool in {sorted(names)}")


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_a_use_key_fetches_through_mcp_and_cannot_get(
    transport: str, setup: tuple[ServerProcess, str, Upstream]
) -> None:
    server, use_key, upstream = setup

    async def main() -> None:
        async with mcp_session(transport, server, use_key) as session:
            tools = {t.name: t for t in (await session.list_tools()).tools}
            fetch = tool_name(set(tools), "fetch")
            hints = tools[fetch].annotations
            assert hints.read_only_hint is False and hints.open_world_hint is True
            assert set(tools[fetch].input_schema["required"]) == {"name", "url"}
            result = await session.call_tool(
                fetch,
                {
                    "name": "stripe",
                    "method": "POST",
                    "url": f"{upstream.base_url}/echo",
                    "headers": {"X-Trace": "mcp"},
                    "body": {"amount": 5},
                },
            )
            assert not result.is_error, result.content[0].text
            answer = result.structured_content
            assert answer["status"] == 200
            echoed = json.loads(answer["body"])
            assert echoed["headers"]["authorization"] == "Bearer [REDACTED]"
            assert echoed["headers"]["x-trace"] == "mcp"
            assert KEY not in result.content[0].text and KEY not in json.dumps(answer)
            assert upstream.seen[-1].headers["authorization"] == f"Bearer {KEY}"

            # Not listed for a vault:use key, and answered by either spelling all the same.
            assert not {"vault_get", "vault.get"} & set(tools)
            refused = await session.call_tool("vault_get", {"name": "stripe"})
            assert refused.is_error
            text = refused.content[0].text
            assert text.startswith("forbidden (insufficient_scope)"), text
            assert "vault:use" in text and "fetch" in text
            assert KEY not in text

            elsewhere = await session.call_tool(
                fetch, {"name": "stripe", "url": "https://127.0.0.3/"}
            )
            assert elsewhere.is_error
            assert elsewhere.content[0].text.startswith("bad_request (host_not_allowed)")
            # #28.5: a header HTTP cannot carry was an internal_error, unaudited
            sent = len(upstream.seen)
            wide = await session.call_tool(
                fetch,
                {"name": "stripe", "url": f"{upstream.base_url}/echo",
                 "headers": {"X-Name": "José"}},
            )  # fmt: skip
            assert wide.is_error and len(upstream.seen) == sent
            assert wide.content[0].text.startswith("validation_error")
            assert "non-ASCII" in wide.content[0].text
            listed = await session.call_tool(tool_name(set(tools), "list"), {})
            assert not listed.is_error and KEY not in listed.content[0].text

    asyncio.run(main())
