"""The stdio MCP server's entry: its options, its settings and how it runs.

``python -m loomal.mcp`` is :func:`main`; ``loomal mcp`` (loomal.cli.mcp) is a
thin wrapper over the same options and :func:`run`. This module imports only
click and the tool-name spellings: the MCP package is loaded when the server
starts, not when ``loomal --help`` lists the command.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ParamSpec, TypeVar, cast

import click

from loomal.errors import LoomalError, MissingApiKeyError
from loomal.mcp.names import TOOL_NAME_MODES, ToolNameMode

__all__ = ["HELP", "StdioSettings", "main", "run", "stdio_options"]

P = ParamSpec("P")
R = TypeVar("R")

HELP = "Serve the vault tools over MCP on stdin/stdout."


@dataclass(frozen=True, slots=True)
class StdioSettings:
    """What the stdio server needs: the vault's address, a key, the tool names."""

    api_key: str | None = None
    base_url: str | None = None
    tool_names: ToolNameMode = "underscore"

    def __repr__(self) -> str:  # the key never shows
        key = "None" if self.api_key is None else "'***'"
        return (
            f"StdioSettings(api_key={key}, base_url={self.base_url!r}, "
            f"tool_names={self.tool_names!r})"
        )


def stdio_options(func: Callable[P, R]) -> Callable[P, R]:
    """``--api-key``, ``--base-url``, ``--tool-names`` and their environment variables."""
    func = click.option(
        "--tool-names",
        envvar="LOOMAL_MCP_TOOL_NAMES",
        type=click.Choice(TOOL_NAME_MODES),
        default="underscore",
        show_default=True,
        help="List tools as vault_store (every MCP host accepts it) or as the seed's "
        "vault.store (refused by Claude Desktop, Cursor, ...). Calls work by either name.",
    )(func)
    func = click.option(
        "--base-url",
        envvar=["LOOMAL_API_URL", "LOOMAL_BASE_URL"],
        help="Vault server URL [env LOOMAL_API_URL].",
    )(func)
    func = click.option(
        "--api-key", envvar="LOOMAL_API_KEY", help="API key (prefer LOOMAL_API_KEY)."
    )(func)
    return func


def settings_from_options(
    api_key: str | None, base_url: str | None, tool_names: str
) -> StdioSettings:
    """The settings from :func:`stdio_options`' values (click checked the choice)."""
    return StdioSettings(api_key, base_url, cast(ToolNameMode, tool_names))


def run(settings: StdioSettings) -> None:
    """Serve until stdin closes. A missing key raises here, before any tool call."""
    from loomal.mcp.stdio import serve_stdio

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)  # stdout is the protocol
    asyncio.run(
        serve_stdio(
            api_key=settings.api_key, base_url=settings.base_url, tool_names=settings.tool_names
        )
    )


@click.command(help=HELP, context_settings={"help_option_names": ["-h", "--help"]})
@stdio_options
def _command(api_key: str | None, base_url: str | None, tool_names: str) -> None:
    try:
        run(settings_from_options(api_key, base_url, tool_names))
    except MissingApiKeyError as exc:  # say it in this command's terms, not the SDK's
        click.echo(f"error: {exc.shell_hint}", err=True)
        sys.exit(1)
    except LoomalError as exc:  # one line and exit 1, as every loomal command reports
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m loomal.mcp [--api-key ...] [--base-url ...] [--tool-names ...]``.

    ``argv`` defaults to the process's arguments. Exits (click's standalone mode):
    0 when stdin closes, 1 on a vault error, 2 on a usage error.
    """
    _command.main(args=list(argv) if argv is not None else None, prog_name="python -m loomal.mcp")
