"""Helpers for the MCP tests: a session of the official ``mcp`` client over
stdio (``loomal mcp`` spawned against a real server) or streamable HTTP."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import ServerProcess

HOST_NAME_RULE = r"^[a-zA-Z0-9_-]{1,64}$"
"""Claude Desktop's rule for tool names, the strictest of the hosts'."""
UNDERSCORE = (
    "vault_list",
    "vault_get",
    "vault_totp",
    "vault_totp_use_backup",
    "vault_store",
    "vault_storeApiKey",
    "vault_storeCard",
    "vault_storeShippingAddress",
    "vault_delete",
    "vault_fetch",
    "vault_request",
    "identity_whoami",
)
DOTTED = tuple(name.replace("_", ".", 1) for name in UNDERSCORE)


@asynccontextmanager
async def mcp_session(
    transport: str,
    server: ServerProcess,
    api_key: str,
    *,
    stdio_args: tuple[str, ...] = (),
    stdio_env: dict[str, str] | None = None,
    initialize: bool = True,
) -> AsyncIterator[Any]:
    """A client session; ``initialize=False`` leaves the handshake (or discover) to the test."""
    if transport == "stdio":
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "loomal", "mcp", *stdio_args],
            env={"LOOMAL_API_KEY": api_key, "LOOMAL_API_URL": server.base_url, **(stdio_env or {})},
        )
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            if initialize:
                await session.initialize()
            yield session
    else:
        headers = {"Authorization": f"Bearer {api_key}"}
        async with (
            httpx2.AsyncClient(headers=headers) as http,
            streamable_http_client(server.base_url + "/mcp", http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            if initialize:
                await session.initialize()
            yield session


@pytest.fixture(params=["stdio", "http"])
def transport(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


class StdioServer:
    """``loomal mcp`` driven line by line, for what the client library will not
    send: chosen protocol versions, malformed envelopes."""

    def __init__(self, server: ServerProcess, api_key: str, cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "loomal", "mcp"],
            env={"LOOMAL_API_KEY": api_key, "LOOMAL_API_URL": server.base_url, "PATH": ""},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def answer(self, line: str, timeout: float = 30) -> tuple[str, dict[str, Any]]:
        """Send one line and return the next line written back (raw and decoded)."""
        self.send(line)
        raw = self._lines.get(timeout=timeout)
        decoded: dict[str, Any] = json.loads(raw)
        return raw, decoded

    def close(self) -> str:
        """Close stdin, wait for the exit; return what it wrote to stderr."""
        assert self.process.stdin is not None and self.process.stderr is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)
        return self.process.stderr.read()


def initialize_request(version: str, request_id: int = 1) -> str:
    return json.dumps(
        {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "initialize",
            "params": {
                "protocolVersion": version,
                "capabilities": {},
                "clientInfo": {"name": "test", "version": "1"},
            },
        }
    )


INITIALIZED = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})
