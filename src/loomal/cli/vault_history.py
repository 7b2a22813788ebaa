"""``loomal vault history|restore|undelete|deleted``: a credential's kept versions
and recoverable deletes, as a client of a running server (added to the ``vault``
group in :mod:`loomal.cli`)."""

from __future__ import annotations

import click

from loomal.cli.common import reports_errors
from loomal.cli.output import print_rows, when
from loomal.cli.vault import client_of, output

__all__ = ["HISTORY_COMMANDS"]


@click.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@reports_errors
def history(ctx: click.Context, name: str, as_json: bool) -> None:
    """List the kept versions of NAME, newest first (never a secret)."""
    with client_of(ctx) as client:
        kept = client.vault.versions(name)
    if output(kept, as_json, None):
        return
    rows = [
        [
            str(v.version) + (" (current)" if v.current else ""),
            when(v.written_at),
            v.kind,
            v.written_by or "-",
        ]
        for v in kept.versions
    ]
    print_rows(["version", "written", "kind", "by"], rows, title=f"{name} ({kept.credential_id})")
    click.echo(f"Read one: loomal vault get {name} --version N; restore: loomal vault restore")


@click.command()
@click.argument("name")
@click.argument("version", type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@reports_errors
def restore(ctx: click.Context, name: str, version: int, as_json: bool) -> None:
    """Make VERSION of NAME current again (as a new version)."""
    with client_of(ctx) as client:
        restored = client.vault.restore(name, version)
    if not output(restored, as_json, None):
        click.echo(f"Restored {name} version {version} as version {restored.version}.")


@click.command()
@click.argument("name")
@click.option("--as", "as_name", help="Bring it back under this name (NAME is taken).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@reports_errors
def undelete(ctx: click.Context, name: str, as_name: str | None, as_json: bool) -> None:
    """Bring back deleted credential NAME (its latest version)."""
    with client_of(ctx) as client:
        back = client.vault.undelete(name, as_name=as_name)
    if not output(back, as_json, None):
        click.echo(f"Undeleted {name} as {back.name} (version {back.version}).")


@click.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@reports_errors
def deleted(ctx: click.Context, as_json: bool) -> None:
    """List deleted credentials that can still be undeleted."""
    with client_of(ctx) as client:
        found = client.vault.deleted()
    if output(found, as_json, None):
        return
    if not found.deleted:
        click.echo("No deleted credentials.")
        return
    rows = [
        [
            d.name + (" (name in use)" if d.name_in_use else ""),
            d.type,
            when(d.deleted_at),
            d.deleted_by or "-",
            when(d.recoverable_until),
        ]
        for d in found.deleted
    ]
    print_rows(["name", "type", "deleted", "by", "recoverable until"], rows)


HISTORY_COMMANDS = (history, restore, undelete, deleted)
