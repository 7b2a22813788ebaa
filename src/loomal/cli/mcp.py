"""``loomal mcp``: the vault's MCP tools on stdio, for MCP clients that spawn a
local process (Claude Desktop, Cursor, ...). Needs a running server."""

from __future__ import annotations

import asyncio
import logging
import sys

import click

from loomal.cli.common import reports_errors

__all__ = ["mcp"]


@click.command()
@click.option("--api-key", envvar="LOOMAL_API_KEY", help="API key (prefer LOOMAL_API_KEY).")
@click.option(
    "--base-url",
    envvar=["LOOMAL_API_URL", "LOOMAL_BASE_URL"],
    help="Vault server URL [env LOOMAL_API_URL].",
)
@reports_errors
def mcp(api_key: str | None, base_url: str | None) -> None:
    """Serve the vault tools over MCP on stdin/stdout."""
    from loomal.mcp.stdio import serve_stdio

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)  # stdout is the protocol
    asyncio.run(serve_stdio(api_key=api_key, base_url=base_url))
