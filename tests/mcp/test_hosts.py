"""What MCP hosts see, through the official ``mcp`` client over both
transports: names every host accepts (and the seed's, on request), either
spelling callable, honest annotations, descriptions written for a model, the
protocol versions the package speaks, ``identity_whoami``."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.shared.exceptions import MCPError
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from tests.conftest import ServerProcess, start_server
from tests.mcp.conftest import (
    DOTTED,
    HOST_NAME_RULE,
    INITIALIZED,
    UNDERSCORE,
    StdioServer,
    initialize_request,
    mcp_session,
)

pytestmark = pytest.mark.slow  # starts real server processes (not in make test-fast)

READ_ONLY = {"vault_list", "vault_get", "vault_totp", "identity_whoami"}


@pytest.fixture
def dotted_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server whose /mcp lists the seed's names (set by the environment variable)."""
    proc = start_server(
        "--data-dir",
        str(tmp_path / "server-data"),
        cwd=tmp_path,
        env={"LOOMAL_MCP_TOOL_NAMES": "dotted"},
    )
    yield proc
    proc.stop()


def test_default_listing_passes_the_strictest_host_rule(
    transport: str, server: ServerProcess
) -> None:
    async def main() -> None:
        async with mcp_session(transport, server, server.api_key or "") as session:
            tools = {t.name: t for t in (await session.list_tools()).tools}
            instructions = session.initialize_result.instructions
        assert tuple(tools) == UNDERSCORE
        for name, tool in tools.items():
            assert re.fullmatch(HOST_NAME_RULE, name), name
            hints = tool.annotations
            assert tool.title and hints.title == tool.title, name
            assert hints.open_world_hint is (name == "vault_fetch"), name  # it calls out
            assert hints.read_only_hint is (name in READ_ONLY), name
            description = tool.description or ""
            assert "\n " not in description and not description.startswith(" "), name
            assert not any(dotted in description for dotted in DOTTED), name
            assert "description" not in (tool.output_schema or {}), name  # no code notes
            for definition in (tool.output_schema or {}).get("$defs", {}).values():
                assert "description" not in definition, name
        for name in ("vault_totp_use_backup", "vault_delete", "vault_fetch"):
            assert tools[name].annotations.destructive_hint is True
        assert tools["vault_totp_use_backup"].annotations.idempotent_hint is False
        assert tools["vault_store"].annotations.idempotent_hint is True
        assert tools["vault_delete"].annotations.idempotent_hint is True
        assert "returns the secret into your context" in (tools["vault_get"].description or "")
        delete = tools["vault_delete"].description or ""
        assert "recoverable for the server's retention period" in delete
        assert "POST /v0/vault/{name}/undelete" in delete
        store = tools["vault_store"].description or ""
        assert "a LOGIN's username goes in metadata" in store
        assert "- API_KEY: data.key, or data.clientId and data.secret" in store
        assert "- TOTP: data.secret (base32 seed), optional data.backupCodes" in store
        assert "- SHIPPING_ADDRESS: data.line1" in store
        assert "data.totp" in store
        assert len(re.findall(r"^- [A-Z_]+: ", store, re.M)) == 12
        assert instructions is not None
        assert "vault_list" in instructions and "vault.list" not in instructions

    asyncio.run(main())


async def _store_and_call_by_both_spellings(session: Any, listed: tuple[str, ...]) -> None:
    tools = tuple(t.name for t in (await session.list_tools()).tools)
    assert tools == listed
    stored = await session.call_tool(
        "vault.store", {"name": "a", "type": "LOGIN", "data": {"password": "pw-a"}}
    )
    assert not stored.is_error, stored.content[0].text
    stored = await session.call_tool(
        "vault_store",
        {"name": "b", "type": "LOGIN", "data": {"password": "pw-b"}, "metadata": {"username": "u"}},
    )
    assert not stored.is_error, stored.content[0].text
    for name in ("vault.list", "vault_list"):
        listed_now = await session.call_tool(name, {})
        assert [c["name"] for c in listed_now.structured_content["credentials"]] == ["a", "b"]
    for name in ("vault.get", "vault_get"):
        got = await session.call_tool(name, {"name": "b"})
        assert got.structured_content["data"] == {"password": "pw-b"}
        assert got.structured_content["metadata"] == {"username": "u"}
    for name in ("identity.whoami", "identity_whoami"):
        who = await session.call_tool(name, {})
        assert not who.is_error
        assert who.structured_content["name"] == "default"
        assert who.structured_content["scopes"] == ["vault:read", "vault:write"]
    deleted = await session.call_tool("vault.delete", {"name": "a"})
    assert deleted.structured_content == {"name": "a", "deleted": True}
    again = await session.call_tool("vault_delete", {"name": "a"})
    assert again.is_error
    assert again.content[0].text == "not_found: No credential named 'a'."


def test_both_spellings_call_through_in_the_default_mode(
    transport: str, server: ServerProcess
) -> None:
    async def main() -> None:
        async with mcp_session(transport, server, server.api_key or "") as session:
            await _store_and_call_by_both_spellings(session, UNDERSCORE)

    asyncio.run(main())


def test_dotted_mode_lists_the_seeds_names_and_answers_both(
    transport: str, dotted_server: ServerProcess
) -> None:
    async def main() -> None:
        async with mcp_session(
            transport,
            dotted_server,
            dotted_server.api_key or "",
            stdio_args=("--tool-names", "dotted"),
        ) as session:
            await _store_and_call_by_both_spellings(session, DOTTED)
            tools = {t.name: t for t in (await session.list_tools()).tools}
            assert "vault.totp" in (tools["vault.get"].description or "")
            assert "vault_totp" not in (tools["vault.get"].description or "")
            instructions = session.initialize_result.instructions or ""
            assert "vault.list" in instructions and "vault_list" not in instructions

    asyncio.run(main())


def test_an_unknown_tool_is_a_protocol_error_that_names_the_tools(
    transport: str, server: ServerProcess
) -> None:
    async def main() -> None:
        async with mcp_session(transport, server, server.api_key or "") as session:
            with pytest.raises(MCPError, match="Unknown tool") as raised:
                await session.call_tool("vault_steal_sk_live_LEAK", {})
            text = str(raised.value)
            assert "Unknown tool. The tools are: vault_list, vault_get" in text
            assert "LEAK" not in text

    asyncio.run(main())


BAD_ARGUMENTS: list[tuple[str, dict[str, Any]]] = [
    ("vault_store", {"name": "x", "type": "LOGIN", "data": {"pasword": "sk_live_LEAK_1"}}),
    ("vault_store", {"name": "x", "type": "LOGIN", "data": "sk_live_LEAK_2"}),
    ("vault_store", {"name": "x", "type": "TOTP", "data": {"secret": "sk_live_LEAK_3!"}}),
    ("vault_store", {"name": ".x", "type": "LOGIN", "data": {"password": "sk_live_LEAK_4"}}),
    ("vault_store", {"name": "x", "type": "NOPE", "data": {"password": "sk_live_LEAK_5"}}),
    ("vault_store", {"name": "x", "data": {"password": "sk_live_LEAK_6"}}),
    ("vault_store", {"name": "x", "type": "API_KEY", "data": {"clientId": "sk_live_LEAK_7"}}),
    (
        "vault_store",
        {"name": "x", "type": "LOGIN", "data": {"password": "p"}, "expiresAt": "sk_live_LEAK_8"},
    ),
    ("vault_store", {"name": "x", "type": "CUSTOM", "data": {}}),
    ("vault_list", {"limit": 0}),
    ("vault_get", {"name": "x" * 129}),
    ("vault_get", {}),
    (
        "vault_store",
        {"name": "x", "type": "LOGIN", "data": {"password": "p"}, "bogus": "sk_live_LEAK_9"},
    ),
    ("identity_whoami", {"token": "sk_live_LEAK_10"}),
]


def test_the_same_bad_argument_gets_the_same_message_on_both_transports(
    server: ServerProcess,
) -> None:
    async def messages(transport: str) -> list[str]:
        async with mcp_session(transport, server, server.api_key or "") as session:
            answers = []
            for tool, args in BAD_ARGUMENTS:
                result = await session.call_tool(tool, args)
                assert result.is_error, (transport, tool, args)
                answers.append(result.content[0].text)
            return answers

    over_stdio = asyncio.run(messages("stdio"))
    over_http = asyncio.run(messages("http"))
    for (tool, args), stdio_text, http_text in zip(
        BAD_ARGUMENTS, over_stdio, over_http, strict=True
    ):
        assert stdio_text == http_text, (tool, args)
        assert "LEAK" not in stdio_text
        assert stdio_text.startswith(("validation_error: ", "bad_request")), stdio_text
    print("\n".join(over_http))


UNKNOWN_IN_STORE = "unknown argument (the arguments are: name, type, data, metadata, expiresAt)"
LOGIN = {"name": "extra", "type": "LOGIN", "data": {"password": "p"}}
UNKNOWN_ARGUMENTS: list[tuple[str, dict[str, Any], str]] = [
    ("vault_store", {**LOGIN, "bogus": 1}, f"bogus: {UNKNOWN_IN_STORE}"),
    ("vault_store", {**LOGIN, "expires_at": "sk_live_LEAK_1"}, f"expires_at: {UNKNOWN_IN_STORE}"),
    ("vault.store", {**LOGIN, "Data": {"password": "sk_live_LEAK_2"}}, f"Data: {UNKNOWN_IN_STORE}"),
    (
        "vault_list",
        {"limit": 5, "offset": "sk_live_LEAK_3"},
        "offset: unknown argument (the arguments are: limit, cursor)",
    ),
    ("identity_whoami", {"verbose": True}, "verbose: unknown argument (this tool takes none)"),
]
"""Arguments a tool does not have, and the message: the name, never the value."""


def test_an_unknown_argument_is_refused_by_name_and_nothing_is_done(
    transport: str, server: ServerProcess
) -> None:
    """As the HTTP API refuses unknown fields (422), and the schemas say so."""

    async def main() -> None:
        async with mcp_session(transport, server, server.api_key or "") as session:
            tools = (await session.list_tools()).tools
            assert {t.input_schema.get("additionalProperties") for t in tools} == {False}
            for tool, args, message in UNKNOWN_ARGUMENTS:
                result = await session.call_tool(tool, args)
                assert result.is_error, (tool, args)
                assert result.content[0].text == f"validation_error: {message}"
            listed = await session.call_tool("vault_list", {})
            assert listed.structured_content["credentials"] == []  # nothing was stored

    asyncio.run(main())


def test_every_protocol_version_the_package_speaks(server: ServerProcess, tmp_path: Path) -> None:
    """initialize at each handshake version (2024-11-05 ...) on both transports,
    and the per-request era through ``server/discover``; only tools advertised."""
    key = server.api_key or ""
    headers = {
        "Authorization": f"Bearer {key}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    assert HANDSHAKE_PROTOCOL_VERSIONS[0] == "2024-11-05"
    for version in HANDSHAKE_PROTOCOL_VERSIONS:
        over_http = httpx.post(
            server.base_url + "/mcp", content=initialize_request(version), headers=headers
        ).json()
        stdio = StdioServer(server, key, tmp_path)
        try:
            _, over_stdio = stdio.answer(initialize_request(version))
            stdio.send(INITIALIZED)
            _, prompts = stdio.answer(
                json.dumps({"jsonrpc": "2.0", "id": 2, "method": "prompts/list"})
            )
            _, resources = stdio.answer(
                json.dumps({"jsonrpc": "2.0", "id": 3, "method": "resources/list"})
            )
        finally:
            stdio.close()
        for result in (over_http["result"], over_stdio["result"]):
            assert result["protocolVersion"] == version
            assert set(result["capabilities"]) == {"tools"}
            assert result["serverInfo"]["name"] == "loomal-vault"
        assert prompts["result"] == {"prompts": []}
        assert resources["result"] == {"resources": []}

    async def modern(transport: str) -> None:
        async with mcp_session(transport, server, key, initialize=False) as session:
            discovered = await session.discover()
            assert list(MODERN_PROTOCOL_VERSIONS) == discovered.supported_versions
            capabilities = discovered.capabilities.model_dump(exclude_none=True)
            assert set(capabilities) == {"tools"}
            names = tuple(t.name for t in (await session.list_tools()).tools)
            assert names == UNDERSCORE
            assert not (await session.call_tool("vault_list", {})).is_error

    asyncio.run(modern("stdio"))
    asyncio.run(modern("http"))
