"""``loomal admin``: master-key operations, on the server host, while servers run.

    rotate-master-key   new primary key first in the key file, then every data key
                        re-wrapped in batches (resumable: run it again after an interruption)
    key-status          each master key, how many credentials it wraps, whether it can be retired
    retire-key KEY_ID   drop a key from the file once nothing is wrapped by it

Running servers re-read the key file within a second of a change and at once
when they meet a row wrapped by a key they do not have yet, so rotation needs
no restart. Keys must come from a key file (``LOOMAL_MASTER_KEY`` cannot be
rewritten from here).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import msgspec
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from loomal.cli.common import reports_errors, run_async, server_settings, store_options
from loomal.config import ServerSettings
from loomal.core.audit import AuditLog
from loomal.core.crypto import WRAP_WARNING, Keyring
from loomal.core.models import AuditPage
from loomal.core.rotation import rewrap_to_primary
from loomal.errors import ValidationError
from loomal.keyfile import DEFAULT_KEY_FILE, add_primary_key, read_key_file, remove_key
from loomal.runtime import open_store

__all__ = ["admin"]


def _key_file(settings: ServerSettings) -> Path:
    if os.environ.get("LOOMAL_MASTER_KEY"):
        raise ValidationError(
            "LOOMAL_MASTER_KEY is set: rotation rewrites a key file. Move the key into a file "
            "(LOOMAL_MASTER_KEY_FILE) first."
        )
    path = settings.master_key_file or settings.data_dir / DEFAULT_KEY_FILE
    if not path.exists():
        raise ValidationError(f"Master key file {path} does not exist.")
    return path


def key_file_option(func: Any) -> Any:
    return click.option(
        "--master-key-file",
        envvar="LOOMAL_MASTER_KEY_FILE",
        type=click.Path(dir_okay=False),
        help="The key file the servers use [default: <data dir>/master.key].",
    )(func)


@click.group()
def admin() -> None:
    """Master-key rotation and status (run on the server host)."""


@admin.command("rotate-master-key")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True)
@click.option("--max-batches", type=int, hidden=True, help="Stop early (tests interruption).")
@key_file_option
@store_options
@reports_errors
def rotate_master_key(
    batch_size: int,
    max_batches: int | None,
    master_key_file: str | None,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Make a new primary master key and re-wrap every data key under it."""
    settings = server_settings(
        data_dir=data_dir, database_url=database_url, master_key_file=master_key_file
    )
    path = _key_file(settings)

    async def rotate() -> tuple[str, int, bool]:
        store = await open_store(settings)
        try:
            keyring = read_key_file(path)
            counts = await store.count_by_key_id()
            pending = sum(n for key_id, n in counts.items() if key_id != keyring.primary_key_id)
            resumed = pending > 0
            if not resumed:  # everything is under the primary: start a new rotation
                keyring = add_primary_key(path)
                pending = sum(counts.values())
            with Progress(transient=True, disable=not Console().is_terminal) as progress:
                task = progress.add_task("re-wrapping data keys", total=pending)
                moved = await rewrap_to_primary(
                    store,
                    keyring,
                    batch_size=batch_size,
                    max_batches=max_batches,
                    on_progress=lambda n: progress.advance(task, n),
                )
            return keyring.primary_key_id, moved, resumed
        finally:
            await store.close()

    primary, moved, resumed = run_async(rotate())
    verb = "Resumed rotation to" if resumed else "New primary master key"
    click.echo(f"{verb} {primary}; re-wrapped {moved} data key(s).")


@admin.command("key-status")
@click.option("--json", "as_json", is_flag=True)
@key_file_option
@store_options
@reports_errors
def key_status(
    as_json: bool, master_key_file: str | None, data_dir: str | None, database_url: str | None
) -> None:
    """Each master key, how many credentials it wraps, and whether it can be retired."""
    settings = server_settings(
        data_dir=data_dir, database_url=database_url, master_key_file=master_key_file
    )
    keyring: Keyring = read_key_file(_key_file(settings))

    async def counts() -> tuple[dict[str, int], dict[str, int]]:
        store = await open_store(settings)
        try:
            return await store.count_by_key_id(), await store.key_wraps()
        finally:
            await store.close()

    wraps, wrapped_total = run_async(counts())
    rows = [
        {
            "keyId": key_id,
            "primary": key_id == keyring.primary_key_id,
            "credentials": wraps.get(key_id, 0),
            "wraps": wrapped_total.get(key_id, 0),
            "rotateSoon": wrapped_total.get(key_id, 0) >= WRAP_WARNING,
            "retirable": key_id != keyring.primary_key_id and wraps.get(key_id, 0) == 0,
        }
        for key_id in [keyring.primary_key_id, *sorted(keyring.key_ids - {keyring.primary_key_id})]
    ]
    unknown = sorted(set(wraps) - keyring.key_ids)
    if as_json:
        click.echo(msgspec.json.encode({"keys": rows, "missingKeys": unknown}).decode())
        return
    table = Table("key id", "primary", "credentials", "data keys wrapped", "can retire")
    for row in rows:
        table.add_row(
            str(row["keyId"]),
            "yes" if row["primary"] else "",
            str(row["credentials"]),
            str(row["wraps"]),
            "yes" if row["retirable"] else "no",
        )
    Console().print(table)
    for row in rows:
        if row["rotateSoon"]:
            click.echo(
                f"warning: {row['keyId']} has wrapped {row['wraps']} data keys; "
                "rotate it well before 2^32 (loomal admin rotate-master-key)."
            )
    if unknown:
        click.echo(f"warning: credentials wrapped by keys not in the file: {', '.join(unknown)}")


@admin.command("audit")
@click.option("--identity", "identity_name", help="Only this identity's log.")
@click.option("--action", help="store, get, list, totp, totp_backup, delete, authenticate")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@store_options
@reports_errors
def audit(
    identity_name: str | None,
    action: str | None,
    limit: int,
    as_json: bool,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Show audit events of every identity (newest first), filtered."""
    settings = server_settings(data_dir=data_dir, database_url=database_url)

    async def read() -> AuditPage:
        store = await open_store(settings)
        try:
            identity_id = None
            if identity_name is not None:
                found = await store.get_identity(name=identity_name)
                if found is None:
                    raise ValidationError(f"No identity named {identity_name!r}.")
                identity_id = found.identity_id
            return await AuditLog(store).page(identity_id=identity_id, action=action, limit=limit)
        finally:
            await store.close()

    page = run_async(read())
    if as_json:
        click.echo(msgspec.json.encode(page.events).decode())
        return
    table = Table("time", "identity", "actor", "key", "action", "credential", "outcome", "client")
    for e in page.events:
        table.add_row(
            f"{e.at:%Y-%m-%d %H:%M:%S}",
            e.identity_id or "-",
            e.actor_identity_id or "-",
            e.key_prefix or "-",
            e.action,
            e.credential_name or "-",
            e.outcome,
            e.client or "-",
        )
    Console().print(table)


@admin.command("retire-key")
@click.argument("key_id")
@key_file_option
@store_options
@reports_errors
def retire_key(
    key_id: str, master_key_file: str | None, data_dir: str | None, database_url: str | None
) -> None:
    """Remove KEY_ID from the key file; refused while any credential is wrapped by it."""
    settings = server_settings(
        data_dir=data_dir, database_url=database_url, master_key_file=master_key_file
    )
    path = _key_file(settings)
    if key_id == read_key_file(path).primary_key_id:
        raise ValidationError(f"{key_id} is the primary key; rotate to a new key first.")

    async def still_wrapped() -> int:
        store = await open_store(settings)
        try:
            return (await store.count_by_key_id()).get(key_id, 0)
        finally:
            await store.close()

    in_use = run_async(still_wrapped())
    if in_use:
        raise ValidationError(
            f"{key_id} still wraps {in_use} credential(s); run rotate-master-key to finish."
        )
    remove_key(path, key_id)
    click.echo(f"Retired {key_id}.")
