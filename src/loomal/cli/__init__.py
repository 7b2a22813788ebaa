"""The ``loomal`` command: vault, whoami, run and platform (client), identity and admin
(server host), serve, mcp.

Exit codes: 0 ok, 1 an API or vault error (one line on stderr), 2 a usage error;
``loomal run`` exits with its command's code, or 127 / 126 as a shell does when the
command is not found / not executable.

The client commands need only the base install (``pip install loomal-vault``);
the server-host commands are loaded when called, so an agent's environment does
not carry the server's dependencies, and a command whose extra is missing says
exactly what to install instead of failing with an import error.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import click

from loomal._version import __version__
from loomal.cli.approvals import approvals
from loomal.cli.oauth import oauth
from loomal.cli.platform import platform
from loomal.cli.requests import request_credential, requests
from loomal.cli.run import run
from loomal.cli.vault import vault, whoami
from loomal.cli.vault_history import HISTORY_COMMANDS

__all__ = ["main"]

_LAZY: dict[str, tuple[str, str, str]] = {
    # command: (module, attribute, the extra that brings its dependencies)
    "serve": ("loomal.cli.serve", "serve", "server"),
    "identity": ("loomal.cli.identity", "identity", "server"),
    "platform-key": ("loomal.cli.platform_key", "platform_key", "server"),
    "admin": ("loomal.cli.admin", "admin", "server"),
    "mcp": ("loomal.cli.mcp", "mcp", "mcp"),
}
_EXTRA_PROBES = {"server": ("litestar", "cryptography", "granian"), "mcp": ("mcp",)}
"""Packages whose presence says an extra is installed."""


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _LAZY:
            return super().get_command(ctx, cmd_name)
        module_name, attribute, extra = _LAZY[cmd_name]
        for probe in _EXTRA_PROBES[extra]:
            if importlib.util.find_spec(probe) is None:
                return _needs_extra(cmd_name, extra, probe)
        command: click.Command = getattr(importlib.import_module(module_name), attribute)
        return command


def _needs_extra(name: str, extra: str, missing: str) -> click.Command:
    """A stand-in for a command whose dependencies are not installed."""
    hint = f"pip install 'loomal-vault[{extra}]'"

    def explain(**_: Any) -> None:
        click.echo(
            f"error: `loomal {name}` needs the {extra} extra ({missing} is not installed): {hint}",
            err=True,
        )
        raise SystemExit(1)

    return click.Command(
        name,
        callback=explain,
        help=f"(not installed: {hint})",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
    )


for _command in HISTORY_COMMANDS:
    vault.add_command(_command)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="loomal")
def main() -> None:
    """Loomal Vault: encrypted credentials for AI agents."""


vault.add_command(oauth)
vault.add_command(request_credential)
main.add_command(vault)
main.add_command(whoami)
main.add_command(run)
main.add_command(platform)
main.add_command(approvals)
main.add_command(requests)
