"""``loomal mcp``: the vault's MCP tools on stdio, for MCP clients that spawn a
local process (Claude Desktop, Cursor, ...). Needs a running server.

A thin wrapper: the options and the server are loomal.mcp.entry's, which
``python -m loomal.mcp`` runs without the CLI."""

from __future__ import annotations

import click

from loomal.cli.common import reports_errors
from loomal.mcp.entry import HELP, run, settings_from_options, stdio_options

__all__ = ["mcp"]


@click.command(help=HELP)
@stdio_options
@reports_errors
def mcp(api_key: str | None, base_url: str | None, tool_names: str) -> None:
    run(settings_from_options(api_key, base_url, tool_names))
