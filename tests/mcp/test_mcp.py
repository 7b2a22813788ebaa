"""The vault's MCP tools through the official client, over stdio (``loomal mcp``
spawned against a real server) and streamable HTTP (``/mcp`` on the server)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

from tests.conftest import ServerProcess, new_key
from tests.mcp.conftest import UNDERSCORE, mcp_session

pytestmark = pytest.mark.slow  # starts real server processes (not in make test-fast)

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # long enough for pyotp, the independent check


def read_only_key(tmp_path: Path) -> str:
    """A second key of the server's first identity, with vault:read only."""
    return new_key(
        "add-key",
        "default",
        "--scopes",
        "vault:read",
        "--data-dir",
        str(tmp_path / "server-data"),
        cwd=tmp_path,
    )


def test_tools_are_listed_with_schemas(transport: str, server: ServerProcess) -> None:
    async def main() -> None:
        async with mcp_session(transport, server, server.api_key or "") as session:
            tools = {t.name: t for t in (await session.list_tools()).tools}
            assert tuple(tools) == UNDERSCORE
            store = tools["vault_store"].input_schema
            assert set(store["required"]) == {"name", "type", "data"}
            assert {"metadata", "expiresAt"} <= set(store["properties"])
            enum = store["$defs"]["CredentialType"]["enum"]
            assert len(enum) == 12
            assert "CERTIFICATE" in enum
            assert store["properties"]["data"]["type"] == "object"
            get_out = tools["vault_get"].output_schema
            assert get_out is not None
            assert "data" in get_out["properties"]
            summary = tools["vault_list"].output_schema["$defs"]["CredentialSummary"]
            assert "data" not in summary["properties"]
            assert "never" in (tools["vault_list"].description or "")
            assert "only safe way" in (tools["vault_totp_use_backup"].description or "")
            assert tools["vault_get"].annotations.read_only_hint is True

    asyncio.run(main())


def test_store_list_get_totp_backup_delete(
    transport: str, server: ServerProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    transcript: list[str] = []

    async def call(session: Any, tool: str, args: dict[str, Any]) -> Any:
        result = await session.call_tool(tool, args)
        transcript.append(f"-> {tool} {json.dumps(args)}")
        transcript.append(f"<- {'ERROR ' if result.is_error else ''}{result.content[0].text}")
        return result

    async def main() -> None:
        async with mcp_session(transport, server, server.api_key or "") as session:
            stored = await call(
                session,
                "vault_store",
                {
                    "name": "github-2fa",
                    "type": "TOTP",
                    "data": {"secret": SECRET, "backupCodes": ["abcd-1234", "efgh-5678"]},
                    "metadata": {"issuer": "GitHub"},
                },
            )
            assert not stored.is_error
            assert stored.structured_content["credentialId"].startswith("cred_")
            await call(
                session,
                "vault_store",
                {
                    "name": "stripe",
                    "type": "API_KEY",
                    "data": {"key": "sk_live_abc123..."},
                    "metadata": {"service": "stripe"},
                    "expiresAt": "2999-01-01T00:00:00Z",
                },
            )
            listed = await call(session, "vault_list", {})
            names = [c["name"] for c in listed.structured_content["credentials"]]
            assert names == ["github-2fa", "stripe"]
            assert "sk_live" not in listed.content[0].text
            assert SECRET not in listed.content[0].text
            got = await call(session, "vault_get", {"name": "stripe"})
            assert got.structured_content["data"] == {"key": "sk_live_abc123..."}
            assert got.structured_content["expiresAt"] == "2999-01-01T00:00:00Z"
            totp = pyotp.TOTP(SECRET)
            before = totp.now()
            code = await call(session, "vault_totp", {"name": "github-2fa"})
            assert code.structured_content["code"] in {before, totp.now()}
            assert 1 <= code.structured_content["remaining"] <= 30
            assert code.structured_content["backupCodesRemaining"] == 2
            assert SECRET not in code.content[0].text
            first = await call(session, "vault_totp_use_backup", {"name": "github-2fa"})
            second = await call(session, "vault_totp_use_backup", {"name": "github-2fa"})
            assert first.structured_content == {
                "code": "abcd-1234",
                "remaining": 1,
                "backupCodesRemaining": 1,
            }
            assert second.structured_content == {
                "code": "efgh-5678",
                "remaining": 0,
                "backupCodesRemaining": 0,
            }
            empty = await call(session, "vault_totp_use_backup", {"name": "github-2fa"})
            assert empty.is_error
            assert empty.content[0].text.startswith("bad_request (no_backup_codes): ")
            gh = await call(session, "vault_get", {"name": "github-2fa"})
            assert gh.structured_content["data"]["secret"] == "[use /v0/vault/:name/totp]"
            assert gh.structured_content["data"]["usedBackupCodes"] == ["abcd-1234", "efgh-5678"]
            deleted = await call(session, "vault_delete", {"name": "stripe"})
            assert deleted.structured_content == {"name": "stripe", "deleted": True}
            missing = await call(session, "vault_get", {"name": "stripe"})
            assert missing.is_error
            assert missing.content[0].text == "not_found: No credential named 'stripe'."

    asyncio.run(main())
    with capsys.disabled():
        print(f"\n--- MCP transcript ({transport}) ---\n" + "\n".join(transcript))


def test_read_only_key_can_read_but_not_write(
    transport: str, server: ServerProcess, tmp_path: Path
) -> None:
    stored = httpx.put(
        server.base_url + "/v0/vault/gh",
        json={"type": "TOTP", "data": {"secret": SECRET, "backupCodes": ["one"]}},
        headers={"Authorization": f"Bearer {server.api_key}"},
    )
    assert stored.status_code == 200, stored.text

    async def main() -> None:
        async with mcp_session(transport, server, read_only_key(tmp_path)) as session:
            assert not (await session.call_tool("vault_list", {})).is_error
            assert not (await session.call_tool("vault_totp", {"name": "gh"})).is_error
            for tool, args in (
                ("vault_store", {"name": "x", "type": "LOGIN", "data": {"password": "p"}}),
                ("vault_totp_use_backup", {"name": "gh"}),
                ("vault_delete", {"name": "gh"}),
            ):
                result = await session.call_tool(tool, args)
                assert result.is_error
                assert result.content[0].text.startswith("forbidden (insufficient_scope): ")

    asyncio.run(main())
    remaining = httpx.get(
        server.base_url + "/v0/vault/gh", headers={"Authorization": f"Bearer {server.api_key}"}
    ).json()["data"]["backupCodes"]
    assert remaining == ["one"]


def test_bad_arguments_are_tool_errors_without_secrets(
    transport: str, server: ServerProcess
) -> None:
    async def main() -> None:
        async with mcp_session(transport, server, server.api_key or "") as session:
            cases = [
                {"name": "x", "type": "LOGIN", "data": "sk_live_LEAK_Zq8v"},
                {"name": "x", "type": "LOGIN", "data": {"pasword": "sk_live_LEAK_Zq8v"}},
                {"name": "x", "type": "TOTP", "data": {"secret": "sk_live_LEAK_Zq8v!"}},
                {"name": ".bad", "type": "LOGIN", "data": {"password": "sk_live_LEAK_Zq8v"}},
                {"name": "x", "type": "NOT_A_TYPE", "data": {"password": "p"}},
                {"name": "x", "data": {"password": "sk_live_LEAK_Zq8v"}},
            ]
            for args in cases:
                result = await session.call_tool("vault_store", args)
                assert result.is_error, args
                assert "sk_live_LEAK" not in result.content[0].text
            assert (await session.call_tool("vault_list", {"limit": 0})).is_error
            listed = await session.call_tool("vault_list", {})
            assert listed.structured_content["credentials"] == []

    asyncio.run(main())


def test_http_endpoint_refuses_requests_without_a_valid_key(server: ServerProcess) -> None:
    for headers in ({}, {"Authorization": "Bearer loid-" + "x" * 43}):
        response = httpx.post(
            server.base_url + "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={**headers, "Accept": "application/json, text/event-stream"},
        )
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"


def test_stdio_without_key_fails_clearly_at_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LOOMAL_API_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "loomal.mcp"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        input="",
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: No API key: export LOOMAL_API_KEY=loid-... (or pass --api-key)."
    )


def test_another_identity_cannot_reach_a_credential_through_any_tool(
    transport: str, server: ServerProcess, tmp_path: Path
) -> None:
    owner = {"Authorization": f"Bearer {server.api_key}"}
    body = {"type": "TOTP", "data": {"secret": SECRET, "backupCodes": ["owned-1"]}}
    assert httpx.put(server.base_url + "/v0/vault/owned", json=body, headers=owner).is_success
    intruder = new_key(
        "create", "intruder", "--data-dir", str(tmp_path / "server-data"), cwd=tmp_path
    )

    async def main() -> None:
        async with mcp_session(transport, server, intruder) as session:
            listed = await session.call_tool("vault_list", {})
            assert listed.structured_content["credentials"] == []
            for tool in ("vault_get", "vault_totp", "vault_totp_use_backup", "vault_delete"):
                result = await session.call_tool(tool, {"name": "owned"})
                assert result.is_error
                assert result.content[0].text == "not_found: No credential named 'owned'."

    asyncio.run(main())
    data = httpx.get(server.base_url + "/v0/vault/owned", headers=owner).json()["data"]
    assert data["backupCodes"] == ["owned-1"]
    assert data["usedBackupCodes"] == []


def test_tool_calls_are_audited_once_with_the_callers_address(
    transport: str, server: ServerProcess
) -> None:
    async def main() -> None:
        async with mcp_session(transport, server, server.api_key or "") as session:
            assert not (await session.call_tool("vault_list", {})).is_error

    asyncio.run(main())
    audit = httpx.get(
        server.base_url + "/v0/audit", headers={"Authorization": f"Bearer {server.api_key}"}
    ).json()["events"]
    lists = [e for e in audit if e["action"] == "list"]
    assert len(lists) == 1
    assert lists[0]["client"] == "127.0.0.1"
    assert lists[0]["outcome"] == "ok"
