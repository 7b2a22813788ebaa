"""``vault_fetch`` under request rules, both transports, with the official client:
a request no rule allows is a tool error naming request_not_allowed; a held one
answers a message the model can relay (where the user approves), and the call
repeated with ``approval_id`` after a person approved goes through."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest

from loomal import Loomal
from tests.conftest import ServerProcess, new_key, start_server
from tests.mcp.conftest import mcp_session
from tests.mcp.test_mcp_fetch import tool_name
from tests.upstream import Upstream, running_upstream

pytestmark = pytest.mark.slow  # starts real server processes

PASSWORD = "pw-mcp-" + "Rv4" * 6
RULES = [
    {"methods": ["GET"], "paths": ["/echo"]},
    {"methods": ["DELETE"], "paths": ["/echo/*"], "approval": {"windowSeconds": 0}},
]


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, str, str, Upstream, str]]:
    cwd = tmp_path_factory.mktemp("mcp-approvals")
    data_dir = str(cwd / "data")
    with running_upstream() as upstream:
        server = start_server("--data-dir", data_dir, "--fetch-allow-private", "127.0.0.1", cwd=cwd)
        try:
            with Loomal(api_key=server.api_key, base_url=server.base_url) as admin:
                admin.vault.store(
                    "crm",
                    type="API_KEY",
                    data={"key": "sk_live_" + "Mq5" * 10},
                    metadata={"allowedHosts": ["127.0.0.1"], "rules": RULES},
                )
                admin.vault.store(
                    "bank",
                    type="LOGIN",
                    data={"username": "ops", "password": PASSWORD},
                    metadata={"reveal": "approval"},
                )
            use_key, approve_key, read_key = (
                new_key("add-key", "default", "--scopes", scope, "--data-dir", data_dir, cwd=cwd)
                for scope in ("vault:use", "vault:approve", "vault:read")
            )
            yield server, use_key, approve_key, upstream, read_key
        finally:
            server.stop()


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_a_held_fetch_tells_the_model_where_the_user_approves(
    transport: str, setup: tuple[ServerProcess, str, str, Upstream, str]
) -> None:
    server, use_key, approve_key, upstream, _ = setup
    url = f"{upstream.base_url}/echo/{transport}"

    async def main() -> None:
        async with mcp_session(transport, server, use_key) as session:
            fetch = tool_name({t.name for t in (await session.list_tools()).tools}, "fetch")
            refused = await session.call_tool(fetch, {"name": "crm", "method": "PUT", "url": url})
            assert refused.is_error and "request_not_allowed" in refused.content[0].text
            why = f"Cleaning up <{transport}> test data"
            held = await session.call_tool(
                fetch, {"name": "crm", "method": "DELETE", "url": url, "reason": why}
            )
            text = held.content[0].text
            assert held.is_error and "Ask the user to approve" in text, text
            found = re.search(r'approval_id "(apr_[\w-]+)"', text)
            assert found is not None and f"{server.base_url}/approvals/{found.group(1)}" in text
            with Loomal(api_key=approve_key, base_url=server.base_url) as person:
                asked = await asyncio.to_thread(person.approvals.get, found.group(1))
                assert (asked.reason, asked.kind) == (why, "request")
                await asyncio.to_thread(person.approvals.approve, found.group(1))
            done = await session.call_tool(
                fetch,
                {"name": "crm", "method": "DELETE", "url": url, "approval_id": found.group(1)},
            )
            assert not done.is_error, done.content[0].text
            assert done.structured_content["status"] == 404  # the upstream's: it was sent

    asyncio.run(main())
    assert [s.method for s in upstream.seen if s.path.endswith(transport)] == ["DELETE"]


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_vault_get_of_a_reveal_approval_credential_waits_for_the_user(
    transport: str, setup: tuple[ServerProcess, str, str, Upstream, str]
) -> None:
    server, _, approve_key, _, read_key = setup

    async def main() -> None:
        async with mcp_session(transport, server, read_key) as session:
            get = tool_name({t.name for t in (await session.list_tools()).tools}, "get")
            held = await session.call_tool(get, {"name": "bank", "reason": "log in to pay"})
            text = held.content[0].text
            assert held.is_error and "Ask the user to approve" in text, text
            assert PASSWORD not in text
            found = re.search(r'approval_id "(apr_[\w-]+)"', text)
            assert found is not None and f"{server.base_url}/approvals/{found.group(1)}" in text
            with Loomal(api_key=approve_key, base_url=server.base_url) as person:
                asked = await asyncio.to_thread(person.approvals.get, found.group(1))
                assert (asked.kind, asked.reason) == ("reveal", "log in to pay")
                await asyncio.to_thread(person.approvals.approve, found.group(1))
            got = await session.call_tool(get, {"name": "bank", "approval_id": found.group(1)})
            assert not got.is_error, got.content[0].text
            assert got.structured_content["data"]["password"] == PASSWORD
            again = await session.call_tool(get, {"name": "bank", "approval_id": found.group(1)})
            assert again.is_error and "approval_used" in again.content[0].text

    asyncio.run(main())
