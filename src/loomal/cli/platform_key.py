"""``loomal platform-key``: create, list and revoke platform keys (``lopk-...``),
which provision identities over ``/v0/platform/identities`` (``loomal platform``,
``LoomalPlatform``) and never read a credential.

Runs on the server host against the same store as ``loomal serve``; a running
server sees a new key at once and a revocation within its auth-cache bound.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
import msgspec

from loomal.cli.common import (
    operator_session,
    reports_errors,
    run_async,
    server_settings,
    store_options,
)
from loomal.cli.tables import make_table, print_table
from loomal.core.audit import AuditLog
from loomal.core.audit_actions import OperatorNote
from loomal.core.identities import IdentityService
from loomal.core.platform import PlatformService
from loomal.core.platform_models import PLATFORM_KEY_PREFIX
from loomal.core.platform_store import PlatformKeyRow
from loomal.core.timestamps import from_micros
from loomal.runtime import store_session

__all__ = ["platform_key"]

T = TypeVar("T")


async def _with_platform(
    flags: dict[str, Any],
    action: Callable[[PlatformService], Awaitable[T]],
    audited_as: str | None = None,
    note_result: Callable[[OperatorNote, T], None] | None = None,
    detail: str | None = None,
) -> T:
    """Run ``action``; a change (``audited_as``) is audited with this OS user, with
    ``detail``, and ``note_result`` adds what the result says to the event."""
    settings = server_settings(**flags)
    async with store_session(settings) as store:
        audit = AuditLog(store)
        service = PlatformService(
            store, IdentityService(store, cache_seconds=0, audit=audit), audit=audit
        )
        try:
            if audited_as is None:
                return await action(service)
            async with operator_session(settings, audited_as, store) as note:
                note.detail = detail
                result = await action(service)
                if note_result is not None:
                    note_result(note, result)
                return result
        finally:
            await audit.flush()


def _note_created(note: OperatorNote, made: tuple[str, PlatformKeyRow]) -> None:
    note.key_prefix, note.key_label = made[1].prefix, made[1].name


@click.group("platform-key")
def platform_key() -> None:
    """Manage platform keys, which provision identities (run on the server host)."""


@platform_key.command("create")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@store_options
@reports_errors
def create(name: str, as_json: bool, data_dir: str | None, database_url: str | None) -> None:
    """Create a platform key labelled NAME; the key is the last line printed."""
    key, row = run_async(
        _with_platform(
            {"data_dir": data_dir, "database_url": database_url},
            lambda p: p.create_key(name),
            "platform_key_create",
            _note_created,
        )
    )
    if as_json:
        click.echo(msgspec.json.encode({"name": name, "prefix": row.prefix, "key": key}).decode())
        return
    click.echo(f"Platform key {name} ({row.prefix}…)")
    click.echo("Platform key (shown only this once):", err=True)
    click.echo(key)


@platform_key.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@store_options
@reports_errors
def list_(as_json: bool, data_dir: str | None, database_url: str | None) -> None:
    """List platform keys (prefixes only)."""
    rows = run_async(
        _with_platform(
            {"data_dir": data_dir, "database_url": database_url}, lambda p: p.list_keys()
        )
    )
    listed = [
        {
            "name": r.name,
            "prefix": r.prefix,
            "createdAt": from_micros(r.created_at),
            "revokedAt": None if r.revoked_at is None else from_micros(r.revoked_at),
        }
        for r in rows
    ]
    if as_json:
        click.echo(msgspec.json.encode(listed).decode())
        return
    table = make_table("name", "key", "created", "revoked", whole=("key",))
    for item in listed:
        revoked = item["revokedAt"]
        table.add_row(
            str(item["name"]),
            f"{item['prefix']}…",
            f"{item['createdAt']:%Y-%m-%d %H:%M}",
            "-" if revoked is None else f"{revoked:%Y-%m-%d %H:%M}",
        )
    print_table(table)


def _shown(target: str) -> str:
    """A revoke's target as the audit log keeps it: never a whole key."""
    if target.startswith(PLATFORM_KEY_PREFIX):
        return target[: len(PLATFORM_KEY_PREFIX) + 8]
    return target


def _note_revoked(note: OperatorNote, count: int) -> None:
    note.detail = f"{note.detail} keys={count}"


@platform_key.command("revoke")
@click.argument("target")
@store_options
@reports_errors
def revoke(target: str, data_dir: str | None, database_url: str | None) -> None:
    """Revoke TARGET: a name (all its keys), a prefix as `platform-key list` shows it
    (lopk-hLUHdNZd…, the ellipsis optional), or a whole key."""
    count = run_async(
        _with_platform(
            {"data_dir": data_dir, "database_url": database_url},
            lambda p: p.revoke_keys(target),
            "platform_key_revoke",
            _note_revoked,
            f"target={_shown(target)}",
        )
    )
    click.echo(f"Revoked {count} platform key(s).")
