"""``loomal mcp``: the vault's MCP tools on stdio, for MCP clients that spawn a
local process (Claude Desktop, Cursor, ...). Needs a running server."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import cast

import click

from loomal.cli.common import reports_errors
from loomal.mcp.names import TOOL_NAME_MODES, ToolNameMode

__all__ = ["mcp"]


@click.command()
@click.option("--api-key", envvar="LOOMAL_API_KEY", help="API key (prefer LOOMAL_API_KEY).")
@click.option(
    "--base-url",
    envvar=["LOOMAL_API_URL", "LOOMAL_BASE_URL"],
    help="Vault server URL [env LOOMAL_API_URL].",
)
@click.option(
    "--tool-names",
    envvar="LOOMAL_MCP_TOOL_NAMES",
    type=click.Choice(TOOL_NAME_MODES),
    default="underscore",
    show_default=True,
    help="List tools as vault_store (every MCP host accepts it) or as the seed's vault.store "
    "(refused by Claude Desktop, Cursor, ...). Calls work by either name.",
)
@reports_errors
def mcp(api_key: str | None, base_url: str | None, tool_names: str) -> None:
    """Serve the vault tools over MCP on stdin/stdout."""
    from loomal.mcp.stdio import serve_stdio

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)  # stdout is the protocol
    asyncio.run(
        serve_stdio(api_key=api_key, base_url=base_url, tool_names=cast(ToolNameMode, tool_names))
    )
