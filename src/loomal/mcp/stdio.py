"""``loomal mcp`` / ``python -m loomal.mcp``: an MCP server on stdio that talks
to a running vault with ``LOOMAL_API_KEY`` and ``LOOMAL_API_URL``."""

from __future__ import annotations

from mcp.server.mcpserver import Context

from loomal.client import AsyncLoomal
from loomal.mcp.backends import SdkBackend, VaultBackend
from loomal.mcp.tools import build_mcp_server

__all__ = ["serve_stdio"]


async def serve_stdio(api_key: str | None = None, base_url: str | None = None) -> None:
    """Serve until stdin closes. A missing API key fails here, before any tool call."""
    client = AsyncLoomal(api_key=api_key, base_url=base_url)
    backend = SdkBackend(client)

    async def backend_for(_: Context) -> VaultBackend:
        return backend

    try:
        await build_mcp_server(backend_for).run_stdio_async()
    finally:
        await client.aclose()
