"""``loomal admin audit``: the audit log of every identity, newest first, on the
server host: filtered by identity, action and time, paged past 1,000 events
(``--cursor``, or ``--all``), identities shown by name and keys with their label.

An unknown ``--action`` is a usage error that lists the known ones (the names
come from :mod:`loomal.core.audit_actions`), never an empty answer.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import click
import msgspec
from rich.table import Table

from loomal.cli.common import reports_errors, run_async, server_settings, store_options
from loomal.cli.tables import make_table, print_table
from loomal.core.audit import AuditLog
from loomal.core.audit_actions import AUDIT_ACTIONS
from loomal.core.models import AuditEntry
from loomal.core.timestamps import parse_time_bound
from loomal.errors import ValidationError
from loomal.runtime import store_session

__all__ = ["audit", "audit_table"]

_PAGE = 1000


def audit_table() -> Table:
    """``admin audit``'s columns; time and key prefix are never cut (a prefix is
    pasted into ``identity revoke``)."""
    return make_table(
        "time",
        "identity",
        "actor",
        "key",
        "by",
        "action",
        "credential",
        "outcome",
        "client",
        "detail",
        whole=("time", "key"),
    )


def _by(entry: AuditEntry) -> str:
    """Who acted: the key's label, or the OS user of a server-host command."""
    if entry.key_label:
        return entry.key_label
    return f"{entry.operator} (host)" if entry.operator else "-"


def _bounds(
    since: str | None, until: str | None, now: float
) -> tuple[datetime | None, datetime | None]:
    start = None if since is None else parse_time_bound(since, field="--since", now=now)
    end = None if until is None else parse_time_bound(until, field="--until", now=now)
    if start is not None and end is not None and start >= end:
        raise ValidationError("--since must be earlier than --until.")
    return start, end


@click.command("audit")
@click.option("--identity", "identity_name", help="Only this identity's log.")
@click.option(
    "--action",
    type=click.Choice(AUDIT_ACTIONS),
    help="Only this action (an unknown one is refused, listing the known ones).",
)
@click.option(
    "--since",
    help="Only events at or after this time: ISO 8601 (2026-12-01T09:00:00Z; no zone: "
    "UTC) or how long ago (90s, 30m, 2h, 7d, 2w).",
)
@click.option("--until", help="Only events before this time (the same forms as --since).")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--cursor", help="The next page: the cursor the previous page printed (on stderr).")
@click.option("--all", "everything", is_flag=True, help="Every matching event, page after page.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@store_options
@reports_errors
def audit(
    identity_name: str | None,
    action: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    cursor: str | None,
    everything: bool,
    as_json: bool,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Show audit events of every identity (newest first), filtered."""
    settings = server_settings(data_dir=data_dir, database_url=database_url)
    start, end = _bounds(since, until, time.time())
    table = audit_table()
    shown = 0
    writer = _JsonArray() if as_json else None

    async def read() -> str | None:
        nonlocal shown
        async with store_session(settings) as store:
            names = {row.identity_id: row.name for row, _ in await store.list_identities()}
            identity_id = None
            if identity_name is not None:
                found = await store.get_identity(name=identity_name)
                if found is None:
                    raise ValidationError(f"No identity named {identity_name!r}.")
                identity_id = found.identity_id
            log = AuditLog(store)

            async def pages() -> AsyncIterator[tuple[list[AuditEntry], str | None]]:
                after = cursor
                while True:
                    page = await log.page(
                        identity_id=identity_id,
                        action=action,
                        cursor=after,
                        limit=_PAGE if everything else limit,
                        since=start,
                        until=end,
                    )
                    yield page.events, page.next_cursor
                    if not everything or page.next_cursor is None:
                        return
                    after = page.next_cursor

            following = None
            async for events, next_cursor in pages():
                following = next_cursor
                shown += len(events)
                for entry in events:
                    if writer is not None:
                        writer.add(_as_json(entry, names.get))
                    else:
                        table.add_row(*_row(entry, names.get))
            return following

    following = run_async(read())
    if writer is not None:
        writer.close()
    else:
        print_table(table)
    if following is not None and not everything:
        click.echo(f"{shown} events shown; more with --cursor {following} (or --all).", err=True)


def _row(entry: AuditEntry, name_of: Callable[[str], str | None]) -> list[str]:
    def who(identity_id: str | None) -> str:
        return "-" if identity_id is None else name_of(identity_id) or identity_id

    return [
        f"{entry.at:%Y-%m-%d %H:%M:%S}",
        who(entry.identity_id),
        who(entry.actor_identity_id),
        entry.key_prefix or "-",
        _by(entry),
        entry.action,
        entry.credential_name or "-",
        entry.outcome,
        entry.client or "-",
        entry.detail or "",
    ]


def _as_json(entry: AuditEntry, name_of: Callable[[str], str | None]) -> dict[str, Any]:
    """The event as the API shows it, and the names of its identities (null for one
    deleted since)."""
    shown: dict[str, Any] = msgspec.to_builtins(entry)
    shown["identityName"] = name_of(entry.identity_id) if entry.identity_id else None
    shown["actorIdentityName"] = (
        name_of(entry.actor_identity_id) if entry.actor_identity_id else None
    )
    return shown


class _JsonArray:
    """A JSON array written as its items come (``--all`` may be millions of events)."""

    def __init__(self) -> None:
        self._started = False

    def add(self, item: dict[str, Any]) -> None:
        click.echo(("," if self._started else "[") + msgspec.json.encode(item).decode(), nl=False)
        self._started = True

    def close(self) -> None:
        click.echo("]" if self._started else "[]")
