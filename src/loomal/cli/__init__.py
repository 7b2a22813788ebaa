"""The ``loomal`` command: vault and whoami (client), identity and admin (server host),
serve, mcp, run.

Exit codes: 0 ok, 1 an API or vault error (one line on stderr), 2 a usage error.
"""

from __future__ import annotations

import click

from loomal import __version__
from loomal.cli.admin import admin
from loomal.cli.identity import identity
from loomal.cli.mcp import mcp
from loomal.cli.run import run
from loomal.cli.serve import serve
from loomal.cli.vault import vault, whoami

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="loomal")
def main() -> None:
    """Loomal Vault: encrypted credentials for AI agents."""


main.add_command(vault)
main.add_command(run)
main.add_command(serve)
main.add_command(identity)
main.add_command(mcp)
main.add_command(admin)
main.add_command(whoami)
