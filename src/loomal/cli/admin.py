"""``loomal admin``: master-key operations, on the server host, while servers run.

    rotate-master-key   new primary key first in the key file, then every data key
                        re-wrapped in batches (resumable: run it again after an interruption)
    key-status          each master key, how many credentials it wraps, whether it can be retired
    retire-key KEY_ID   drop a key from the file once nothing is wrapped by it
    set-passphrase      seal the key file under a passphrase (or change the passphrase)
    unseal / seal       give a running server with a sealed key file its keys / take them away
    seal-status         whether that server is sealed
    audit               the audit log of every identity (``admin_audit.py``)
    backup / restore    a consistent snapshot to a file, and back (``admin_backup.py``)
    migrate             the store copied into another one (SQLite to PostgreSQL)
    verify              every credential opened with the master keys
    webhooks            the webhook outbox: list, retry a dead event (``admin_webhooks.py``)

Every change is audited with the OS user who ran it (``operator``).
Running servers re-read the key file within a second of a change and at once
when they meet a row wrapped by a key they do not have yet, so rotation needs
no restart. Keys must come from a key file (``LOOMAL_MASTER_KEY`` cannot be
rewritten from here). Commands that change a sealed key file ask for its
passphrase (or read ``--passphrase-file``).
"""

from __future__ import annotations

import functools
from typing import Any

import click
import msgspec
from rich.console import Console
from rich.progress import Progress, TaskID

from loomal.cli.admin_audit import audit
from loomal.cli.admin_backup import backup, migrate, restore, verify
from loomal.cli.admin_webhooks import webhooks
from loomal.cli.common import (
    ask_passphrase,
    fail,
    operator_session,
    reports_errors,
    run_async,
    server_settings,
    store_options,
)
from loomal.cli.tables import make_table, print_table
from loomal.core.keys import KeyStatusReport, RotationResult, RotationSkipped
from loomal.errors import ValidationError
from loomal.keyfile import Passphrase, is_sealed_key_file, set_passphrase
from loomal.runtime import key_session
from loomal.unseal_agent import agent_request

__all__ = ["admin"]


def key_file_option(func: Any) -> Any:
    return click.option(
        "--master-key-file",
        envvar="LOOMAL_MASTER_KEY_FILE",
        type=click.Path(dir_okay=False),
        help="The key file the servers use [default: <data dir>/master.key].",
    )(func)


def passphrase_option(func: Any) -> Any:
    return click.option(
        "--passphrase-file",
        envvar="LOOMAL_UNSEAL_PASSPHRASE_FILE",
        type=click.Path(dir_okay=False, allow_dash=True),
        help="Read the sealed key file's passphrase from this file (- for stdin) instead of "
        "asking for it.",
    )(func)


def _passphrase(file: str | None) -> Passphrase:
    """Asked for at most once, and only if the key file turns out to be sealed."""
    return functools.cache(lambda: ask_passphrase(file, "Passphrase of the sealed key file"))


@click.group()
def admin() -> None:
    """Master keys, backup and restore, the audit log (run on the server host)."""


admin.add_command(audit)
admin.add_command(webhooks)
for _command in (backup, restore, migrate, verify):
    admin.add_command(_command)


@admin.command("rotate-master-key")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True)
@click.option("--max-batches", type=int, hidden=True, help="Stop early (tests interruption).")
@click.option(
    "--if-wraps-over",
    type=click.IntRange(0),
    help="Rotate only if the primary key has wrapped more than this many data keys (or a "
    "rotation is unfinished): for a daily timer, e.g. 1000000000.",
)
@key_file_option
@passphrase_option
@store_options
@reports_errors
def rotate_master_key(
    batch_size: int,
    max_batches: int | None,
    if_wraps_over: int | None,
    master_key_file: str | None,
    passphrase_file: str | None,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Make a new primary master key and re-wrap every data key under it.

    A credential that fails its integrity check is named and left under its old
    key; every other one is rotated, and the command exits 1.
    """
    settings = server_settings(
        data_dir=data_dir, database_url=database_url, master_key_file=master_key_file
    )
    passphrase = _passphrase(passphrase_file)
    progress = Progress(transient=True, disable=not Console().is_terminal)
    task: list[TaskID] = []

    def advance(moved: int, total: int) -> None:
        if not task:  # shown from the first batch: never over the passphrase prompt
            progress.start()
            task.append(progress.add_task("re-wrapping data keys", total=total))
        progress.advance(task[0], moved)

    async def rotate() -> RotationResult | RotationSkipped:
        async with operator_session(settings, "master_key_rotate") as note:
            async with key_session(settings, passphrase) as keys:
                outcome = await keys.rotate(
                    batch_size=batch_size,
                    max_batches=max_batches,
                    if_wraps_over=if_wraps_over,
                    on_progress=advance,
                )
            if isinstance(outcome, RotationSkipped):
                note.detail = f"skipped: {outcome.key_id} wraps {outcome.wraps}"
            else:
                note.detail = (
                    f"primary={outcome.primary_key_id} moved={outcome.moved} "
                    f"unreadable={len(outcome.unreadable)}"
                )
            return outcome

    try:
        outcome = run_async(rotate())
    finally:
        progress.stop()
    if isinstance(outcome, RotationSkipped):
        click.echo(
            f"No rotation needed: {outcome.key_id} has wrapped {outcome.wraps} data key(s), "
            f"not over {outcome.threshold}."
        )
        return
    verb = "Resumed rotation to" if outcome.resumed else "New primary master key"
    click.echo(f"{verb} {outcome.primary_key_id}; re-wrapped {outcome.moved} data key(s).")
    if outcome.unreadable:
        fail(
            f"{len(outcome.unreadable)} credential(s) failed their integrity check and stay "
            f"under the old key: {', '.join(outcome.unreadable)}. Restore or store them again "
            "(or delete them), then run rotate-master-key again."
        )


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

    async def status() -> KeyStatusReport:
        async with key_session(settings) as keys:
            return await keys.status()

    report = run_async(status())
    if as_json:
        click.echo(msgspec.json.encode(report).decode())
        return
    table = make_table(
        "key id", "primary", "credentials", "data keys wrapped", "can retire", whole=("key id",)
    )
    for key in report.keys:
        table.add_row(
            key.key_id,
            "yes" if key.primary else "",
            str(key.credentials),
            str(key.wraps),
            "yes" if key.retirable else "no",
        )
    print_table(table)
    for key in report.keys:
        if key.rotate_soon:
            click.echo(
                f"warning: {key.key_id} has wrapped {key.wraps} data keys; "
                "rotate it well before 2^32 (loomal admin rotate-master-key)."
            )
    if report.missing_keys:
        click.echo(
            "warning: credentials wrapped by keys not in the file: "
            + ", ".join(report.missing_keys)
        )


@admin.command("retire-key")
@click.argument("key_id")
@key_file_option
@passphrase_option
@store_options
@reports_errors
def retire_key(
    key_id: str,
    master_key_file: str | None,
    passphrase_file: str | None,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Remove KEY_ID from the key file; refused while any credential is wrapped by it."""
    settings = server_settings(
        data_dir=data_dir, database_url=database_url, master_key_file=master_key_file
    )

    async def retire() -> None:
        async with operator_session(settings, "master_key_retire") as note:
            note.detail = f"key={key_id}"
            async with key_session(settings, _passphrase(passphrase_file)) as keys:
                await keys.retire(key_id)

    run_async(retire())
    click.echo(f"Retired {key_id}.")


@admin.command("set-passphrase")
@key_file_option
@passphrase_option
@click.option(
    "--new-passphrase-file",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Read the new passphrase from this file instead of asking for it twice.",
)
@store_options
@reports_errors
def set_passphrase_command(
    master_key_file: str | None,
    passphrase_file: str | None,
    new_passphrase_file: str | None,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Seal the master key file under a passphrase, or change its passphrase.

    With no key file yet, a new key is generated straight into a sealed file,
    so no plain copy of it is ever written.
    """
    settings = server_settings(
        data_dir=data_dir, database_url=database_url, master_key_file=master_key_file
    )
    if settings.master_key is not None:
        raise ValidationError("LOOMAL_MASTER_KEY is set: only a key file can be sealed.")
    path = settings.key_file
    existed, was_sealed = path.exists(), is_sealed_key_file(path)
    current = _passphrase(passphrase_file)
    if was_sealed:
        current()  # ask for the current passphrase before the new one
    new = ask_passphrase(new_passphrase_file, "New passphrase", confirm=True)
    key_ids = set_passphrase(path, new, current)
    if was_sealed:
        click.echo(f"Changed the passphrase of {path} (keys {', '.join(key_ids)}).")
        click.echo(
            "Running servers keep their keys; unseal them once with the new passphrase "
            "so they follow later rotations."
        )
        return
    click.echo(f"Sealed {path} under the passphrase (keys {', '.join(key_ids)}).")
    if existed:
        click.echo(
            "The old plain key file may survive in free disk blocks. To make it worthless, "
            "run `loomal admin rotate-master-key`, then `loomal admin retire-key` for the old key."
        )
    click.echo(
        "`loomal serve` now starts sealed (vault routes answer 503) until "
        "`loomal admin unseal`, or --unseal-passphrase-file; restart a server that runs."
    )


def unseal_socket_option(func: Any) -> Any:
    return click.option(
        "--unseal-socket",
        envvar="LOOMAL_UNSEAL_SOCKET",
        type=click.Path(dir_okay=False),
        help="The server's unseal socket [default: <data dir>/unseal.sock].",
    )(func)


@admin.command("unseal")
@passphrase_option
@unseal_socket_option
@store_options
@reports_errors
def unseal(
    passphrase_file: str | None,
    unseal_socket: str | None,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Give a running server with a sealed key file its master keys."""
    settings = server_settings(
        data_dir=data_dir, database_url=database_url, unseal_socket=unseal_socket
    )
    socket_path = settings.unseal_socket_path
    agent_request(socket_path, {"op": "status"}, timeout=5)  # is it there, before asking
    passphrase = ask_passphrase(passphrase_file, "Passphrase")

    async def unseal_audited() -> Any:
        async with operator_session(settings, "unseal") as note:
            answer = agent_request(socket_path, {"op": "unseal", "passphrase": passphrase})
            note.detail = f"keys={' '.join(answer['keyIds'])}"
            return answer

    answer = run_async(unseal_audited())
    click.echo(f"Unsealed (master keys {', '.join(answer['keyIds'])}); the vault is serving.")


@admin.command("seal")
@unseal_socket_option
@store_options
@reports_errors
def seal(unseal_socket: str | None, data_dir: str | None, database_url: str | None) -> None:
    """Make a running server forget its master keys: vault routes answer 503 sealed."""
    settings = server_settings(
        data_dir=data_dir, database_url=database_url, unseal_socket=unseal_socket
    )

    async def seal_audited() -> None:
        async with operator_session(settings, "seal"):
            agent_request(settings.unseal_socket_path, {"op": "seal"}, timeout=5)

    run_async(seal_audited())
    click.echo("Sealed: every worker stops serving vault routes within a second.")


@admin.command("seal-status")
@click.option("--json", "as_json", is_flag=True)
@unseal_socket_option
@store_options
@reports_errors
def seal_status(
    as_json: bool, unseal_socket: str | None, data_dir: str | None, database_url: str | None
) -> None:
    """Whether a running server with a sealed key file holds its keys."""
    settings = server_settings(
        data_dir=data_dir, database_url=database_url, unseal_socket=unseal_socket
    )
    answer = agent_request(settings.unseal_socket_path, {"op": "status"}, timeout=5)
    if as_json:
        click.echo(msgspec.json.encode(answer).decode())
    elif answer["sealed"]:
        click.echo("sealed")
    else:
        click.echo(f"unsealed (master keys {', '.join(answer['keyIds'])})")
