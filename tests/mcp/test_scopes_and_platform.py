"""What the official MCP server does and ours now does too: a key is shown only
the tools its scopes can call (a call to another still answers the scope error),
the typed store tools, and the ``identities_*`` tools with a platform key."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.conftest import ServerProcess, new_key, new_platform_key
from tests.mcp.conftest import UNDERSCORE, mcp_session

pytestmark = pytest.mark.slow  # starts real server processes (not in make test-fast)

WRITES = {
    "vault_totp_use_backup",
    "vault_store",
    "vault_storeApiKey",
    "vault_storeCard",
    "vault_storeShippingAddress",
    "vault_delete",
}
PLATFORM_TOOLS = (
    "identities_list",
    "identities_get",
    "identities_create",
    "identities_update",
    "identities_delete",
    "identities_rotate_key",
    "identities_update_scopes",
)


def key_with(scopes: str, tmp_path: Path) -> str:
    """Another key of the server's first identity, with ``scopes``."""
    data_dir = str(tmp_path / "server-data")
    return new_key("add-key", "default", "--scopes", scopes, "--data-dir", data_dir, cwd=tmp_path)


def test_a_key_sees_the_tools_its_scopes_can_call(
    transport: str, server: ServerProcess, tmp_path: Path
) -> None:
    expected = {
        "vault:read": tuple(t for t in UNDERSCORE if t not in WRITES),
        "vault:use": (
            "vault_list",
            "vault_totp",
            "vault_fetch",
            "vault_request",
            "identity_whoami",
        ),
        "vault:write": (
            *(t for t in UNDERSCORE if t in WRITES),
            "identity_whoami",
        ),
    }

    async def main() -> None:
        for scopes, listed in expected.items():
            async with mcp_session(transport, server, key_with(scopes, tmp_path)) as session:
                names = tuple(t.name for t in (await session.list_tools()).tools)
                assert names == tuple(t for t in UNDERSCORE if t in listed), scopes
                instructions = session.initialize_result.instructions or ""
                assert ("vault_store" in instructions) is ("vault_store" in listed), scopes
                assert "identity_whoami" in instructions
                if "vault_store" not in listed:
                    # Not listed, still answered: the same error as over HTTP.
                    refused = await session.call_tool(
                        "vault_storeApiKey", {"name": "k", "secret": "sk_live_LEAK"}
                    )
                    assert refused.is_error
                    text = refused.content[0].text
                    assert text.startswith("forbidden (insufficient_scope): "), text
                    assert "LEAK" not in text
        async with mcp_session(transport, server, server.api_key or "") as session:
            names = tuple(t.name for t in (await session.list_tools()).tools)
            assert names == UNDERSCORE  # read and write: everything

    asyncio.run(main())


def test_the_typed_store_tools_store_what_the_official_ones_do(
    transport: str, server: ServerProcess
) -> None:
    async def main() -> None:
        async with mcp_session(transport, server, server.api_key or "") as session:

            async def store(tool: str, args: dict[str, Any]) -> dict[str, Any]:
                stored = await session.call_tool(tool, args)
                assert not stored.is_error, stored.content[0].text
                got = await session.call_tool("vault_get", {"name": args["name"]})
                result: dict[str, Any] = got.structured_content
                return result

            key = await store("vault_storeApiKey", {"name": "stripe", "secret": "sk_live_abc"})
            assert (key["type"], key["data"], key["metadata"]) == (
                "API_KEY",
                {"key": "sk_live_abc"},
                {},  # the official server also copies "sk_live_..." here; plaintext, so not ours
            )
            pair = await store(
                "vault_storeApiKey",
                {"name": "x", "secret": "cs", "clientId": "cid", "expiresAt": "2099-01-01"},
            )
            assert (pair["data"], pair["metadata"]) == (
                {"clientId": "cid", "secret": "cs"},
                {"clientId": "cid"},
            )
            assert pair["expiresAt"].startswith("2099-01-01")
            card = await store(
                "vault_storeCard",
                {
                    "name": "visa",
                    "cardholder": "Jane Doe",
                    "number": "4242 4242 4242 4242",
                    "expMonth": "12",
                    "expYear": "2029",
                    "cvc": "123",
                    "brand": "Visa",
                },
            )
            assert card["type"] == "CARD" and card["metadata"] == {"last4": "4242", "brand": "Visa"}
            assert card["data"]["number"] == "4242 4242 4242 4242" and "zip" not in card["data"]
            home = await store(
                "vault_storeShippingAddress",
                {
                    "name": "home",
                    "recipient": "Autonomous Agent",
                    "line1": "1 Demo Way",
                    "city": "San Francisco",
                    "state": "CA",
                    "postcode": "94103",
                    "country": "us",
                },
            )
            assert home["type"] == "SHIPPING_ADDRESS"
            assert home["data"] == {
                "name": "Autonomous Agent",
                "line1": "1 Demo Way",
                "city": "San Francisco",
                "state": "CA",
                "postcode": "94103",
                "country": "US",
            }
            missing = await session.call_tool("vault_storeCard", {"name": "v", "number": "4242"})
            assert missing.is_error
            assert missing.content[0].text.startswith("validation_error: cardholder: ")

    asyncio.run(main())


def test_a_platform_key_gets_the_identities_tools(server: ServerProcess, tmp_path: Path) -> None:
    key = new_platform_key(tmp_path / "server-data", cwd=tmp_path)

    async def main(url: str) -> None:
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "loomal", "mcp"],
            env={"LOOMAL_API_KEY": key, "LOOMAL_API_URL": url},
        )
        async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
            session: Any = client  # as mcp_session yields it: results read loosely
            init = await session.initialize()
            assert init.server_info.name == "loomal-platform"
            tools = {t.name: t for t in (await session.list_tools()).tools}
            assert tuple(tools) == PLATFORM_TOOLS
            assert set(tools["identities_create"].input_schema["properties"]) == {
                "purpose",
                "name",
                "emailName",
                "scopes",
            }
            assert tools["identities_delete"].annotations.destructive_hint is True

            async def call(tool: str, args: dict[str, Any]) -> dict[str, Any]:
                result = await session.call_tool(tool, args)
                assert not result.is_error, result.content[0].text
                structured: dict[str, Any] = result.structured_content
                return structured

            created = await call("identities_create", {})
            assert created["rawKey"].startswith("loid-")
            assert created["scopes"] == ["vault:read", "vault:write"]
            identity_id = created["identityId"]
            await call("identities_create", {"name": "second", "emailName": "x"})
            page = await call("identities_list", {"limit": 1})
            assert page["count"] == 1 and page["nextPageToken"]
            rest = await call("identities_list", {"pageToken": page["nextPageToken"]})
            assert [i["name"] for i in rest["identities"]] == [created["name"], "second"]
            assert (await call("identities_get", {"identityId": identity_id}))["apiKeyPrefix"]
            renamed = await call("identities_update", {"identityId": identity_id, "name": "r"})
            assert renamed["name"] == "r"
            scoped = await call(
                "identities_update_scopes",
                {"identityId": identity_id, "removeScopes": ["vault:write"]},
            )
            assert scoped["scopes"] == ["vault:read"]
            rotated = await call("identities_rotate_key", {"identityId": identity_id})
            assert rotated["rawKey"] != created["rawKey"]
            gone = await call("identities.delete", {"identityId": identity_id})  # either spelling
            assert gone == {"identityId": identity_id, "deleted": True}
            missing = await session.call_tool("identities_get", {"identityId": identity_id})
            assert missing.is_error and missing.content[0].text.startswith("not_found: ")

    asyncio.run(main(server.base_url))


def test_a_key_the_server_refuses_stops_the_server_at_start(
    server: ServerProcess, tmp_path: Path
) -> None:
    """As the official server does (it reads /v0/whoami first): one line, exit 1."""
    done = subprocess.run(
        [sys.executable, "-m", "loomal", "mcp"],
        env={"LOOMAL_API_KEY": "loid-" + "x" * 43, "LOOMAL_API_URL": server.base_url},
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == ["error: Invalid API key."]
    assert "x" * 10 not in done.stderr
