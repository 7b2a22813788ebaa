"""``loomal admin backup / restore / migrate / verify``: a store's rows, moved or checked.

    backup FILE        one consistent snapshot while servers serve, to a new 0600 file
    restore FILE       into an empty store (--data-dir or --database-url), after checking
                       the file whole and that the target's master keys can read it
    migrate --to URL   backup and restore in one stream, e.g. SQLite to PostgreSQL
    verify             open every credential with the master keys; name what fails

The rules live in :mod:`loomal.backup`; this module parses, calls and prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress, TaskID

from loomal.backup.copying import (
    MigrateResult,
    StoreAt,
    backup_to_file,
    migrate_store,
    restore_from_file,
)
from loomal.backup.file_format import Manifest
from loomal.backup.verification import verify_store
from loomal.cli.common import (
    ask_passphrase,
    fail,
    operator_session,
    reports_errors,
    run_async,
    server_settings,
    store_options,
)
from loomal.config import ServerSettings
from loomal.errors import ValidationError
from loomal.runtime import key_source
from loomal.store.backup_sql import describe

__all__ = ["backup", "migrate", "restore", "verify"]


def _store_at(settings: ServerSettings) -> StoreAt:
    return StoreAt.of(settings.data_dir, settings.database_url)


def _existing(settings: ServerSettings) -> StoreAt:
    at = _store_at(settings)
    if at.sqlite_path is not None and not at.sqlite_path.exists():
        raise ValidationError(
            f"No vault store at {at.sqlite_path}: give the --data-dir (LOOMAL_DATA_DIR) or "
            "--database-url (LOOMAL_DATABASE_URL) the servers use."
        )
    return at


@contextlib.contextmanager
def _progress(what: str) -> Iterator[tuple[Callable[[int], None], Callable[[int], None]]]:
    """(on_start(total), on_progress(n)): a bar on a terminal, nothing otherwise."""
    bar = Progress(transient=True, disable=not Console(stderr=True).is_terminal)
    task: list[TaskID] = []

    def start(total: int) -> None:
        bar.start()
        task.append(bar.add_task(what, total=total))

    def advance(n: int) -> None:
        if task:
            bar.advance(task[0], n)

    try:
        yield start, advance
    finally:
        bar.stop()


def _say_replaced(held: dict[str, int]) -> None:
    click.echo(
        "--force: replacing everything the target holds: "
        + ", ".join(f"{n} {name}" for name, n in held.items()),
        err=True,
    )


def _summary(manifest: Manifest) -> str:
    counts = {t.name: t.rows for t in manifest.tables}
    return (
        f"{counts.get('identities', 0)} identities, {counts.get('credentials', 0)} credentials, "
        f"{counts.get('api_keys', 0)} API keys, {counts.get('audit_events', 0)} audit events"
    )


key_file_option = click.option(
    "--master-key-file",
    envvar="LOOMAL_MASTER_KEY_FILE",
    type=click.Path(dir_okay=False),
    help="The key file of the target's servers [default: <data dir>/master.key].",
)
batch_option = click.option(
    "--batch-size", type=click.IntRange(1, 100_000), default=1000, show_default=True
)


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--no-audit", is_flag=True, help="Leave the audit log out of the backup.")
@batch_option
@store_options
@reports_errors
def backup(
    file: Path, no_audit: bool, batch_size: int, data_dir: str | None, database_url: str | None
) -> None:
    """Write a consistent snapshot of the store to FILE (new, mode 0600) while servers run.

    FILE holds what the store holds: ciphertexts, wrapped data keys, key hashes,
    never a plaintext secret, never the master key. Back the master key up
    separately: without it the backup cannot be read.
    """
    settings = server_settings(data_dir=data_dir, database_url=database_url)
    source = _existing(settings)

    async def audited() -> Manifest:
        async with operator_session(settings, "backup") as note:
            with _progress("backing up") as (start, advance):
                manifest = backup_to_file(
                    source,
                    file,
                    audit=not no_audit,
                    batch_size=batch_size,
                    on_start=start,
                    on_progress=advance,
                )
            note.detail = f"credentials={manifest.count('credentials')}"
            return manifest

    manifest = run_async(audited())
    click.echo(f"Backed up {_summary(manifest)} to {file} ({file.stat().st_size} bytes).")
    click.echo(
        f"It needs master key(s) {', '.join(manifest.key_ids) or '(none yet)'} to be read: "
        "keep the key file backed up too, apart from this file."
    )


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--force", is_flag=True, help="Replace everything a non-empty target holds.")
@key_file_option
@store_options
@reports_errors
def restore(
    file: Path,
    force: bool,
    master_key_file: str | None,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Restore FILE into an empty store (--data-dir or --database-url).

    The whole file is checked first (checksum, counts), then that the target's
    master keys include every key the backup needs; a damaged file or a missing
    key writes nothing. Stop the target's servers while restoring.
    """
    settings = server_settings(
        data_dir=data_dir, database_url=database_url, master_key_file=master_key_file
    )
    target = _store_at(settings)
    where = "LOOMAL_MASTER_KEY" if settings.master_key is not None else str(settings.key_file)
    with _progress("restoring") as (start, advance):
        manifest = restore_from_file(
            file,
            target,
            available_key_ids=lambda: key_source(settings).key_ids(),
            key_source_name=where,
            force=force,
            on_start=lambda m: start(sum(t.rows for t in m.tables)),
            on_replace=_say_replaced,
            on_progress=advance,
        )

    async def note_restore() -> None:
        async with operator_session(settings, "restore") as note:
            note.detail = f"credentials={manifest.count('credentials')}"

    run_async(note_restore())
    click.echo(f"Restored {_summary(manifest)} into {describe(target)}.")
    click.echo("Check it with `loomal admin verify` (same store options).")


@click.command("migrate")
@click.option(
    "--to",
    "to",
    required=True,
    help="The new store: postgresql://... (or a data directory for SQLite).",
)
@click.option("--no-audit", is_flag=True, help="Leave the audit log behind.")
@click.option("--force", is_flag=True, help="Replace everything a non-empty target holds.")
@batch_option
@store_options
@reports_errors
def migrate(
    to: str,
    no_audit: bool,
    force: bool,
    batch_size: int,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Copy the configured store into another one, e.g. SQLite to PostgreSQL.

    One consistent snapshot, streamed in batches (bounded memory) into one
    transaction on the target, then the counts of both compared. Then point
    every server at the new store with the same master key file.
    """
    settings = server_settings(data_dir=data_dir, database_url=database_url)
    source = _existing(settings)
    if to.startswith(("postgresql://", "postgres://")):
        target = StoreAt(database_url=to)
    else:
        target = StoreAt(sqlite_path=Path(to).expanduser().absolute() / "loomal.db")
    if target == source:
        raise ValidationError("--to names the store being migrated.")

    async def audited() -> MigrateResult:
        async with operator_session(settings, "backup") as note:
            note.detail = f"migrate to {describe(target)}"
            with _progress("migrating") as (start, advance):
                return (
                    await asyncio.to_thread(  # it runs the target's migrations: a loop of its own
                        functools.partial(
                            migrate_store,
                            source,
                            target,
                            audit=not no_audit,
                            force=force,
                            batch_size=batch_size,
                            on_start=start,
                            on_replace=_say_replaced,
                            on_progress=advance,
                        )
                    )
                )

    result = run_async(audited())
    arrived = server_settings(
        data_dir=str(target.sqlite_path.parent) if target.sqlite_path else data_dir,
        database_url=target.database_url,
    )

    async def note_arrival() -> None:
        async with operator_session(arrived, "restore") as note:
            note.detail = f"migrated from {describe(source)}"

    run_async(note_arrival())
    for table, read, written in result.tables:
        click.echo(f"{table}: {read} read, {written} in the target")
    if any(read != written for _, read, written in result.tables):
        fail("The counts differ.")
    click.echo(
        f"Migrated to {describe(target)}. Start the servers with --database-url and the same "
        f"master key file (key(s) {', '.join(result.key_ids) or '(none yet)'})."
    )


@click.command("verify")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True)
@key_file_option
@click.option(
    "--passphrase-file",
    envvar="LOOMAL_UNSEAL_PASSPHRASE_FILE",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="The sealed key file's passphrase, from this file (- for stdin).",
)
@store_options
@reports_errors
def verify(
    batch_size: int,
    master_key_file: str | None,
    passphrase_file: str | None,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Open every credential with the master keys; name each one that fails (exit 1).

    Reads in small batches at low CPU priority, so servers keep serving. Useful
    after a restore, a rotation or a disk scare.
    """
    settings = server_settings(
        data_dir=data_dir, database_url=database_url, master_key_file=master_key_file
    )
    location = _existing(settings)
    source = key_source(settings, passphrase=lambda: ask_passphrase(passphrase_file, "Passphrase"))
    keyring = source.current()
    if keyring is None:
        raise ValidationError("The master keys are sealed: give --passphrase-file.")
    with contextlib.suppress(OSError, AttributeError):
        os.nice(10)
    with _progress("verifying") as (start, advance):
        report = verify_store(
            location, keyring, batch_size=batch_size, on_start=start, on_progress=advance
        )
    for failure in report.failures:
        click.echo(f"FAILED {failure.what}: {failure.reason}", err=True)
    keys = ", ".join(f"{key}: {n}" for key, n in sorted(report.by_key.items()))
    for label, checked in report.checked.items():
        failed = report.failed(label)
        click.echo(f"Checked {checked} {label}(s): {checked - failed} open, {failed} failed.")
    if keys:
        click.echo(f"By master key: {keys}.")
    if report.failures:
        fail(f"{len(report.failures)} row(s) failed verification.")
