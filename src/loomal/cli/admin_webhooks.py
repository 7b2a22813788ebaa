"""``loomal admin webhooks``: the webhook outbox on the server host. ``list``
shows events by state (a dead one is an event every attempt of which failed:
its last error says why); ``retry EVENT_ID`` gives a dead event its attempts
again once the receiver is fixed (audited as ``webhook_retry``)."""

from __future__ import annotations

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
from loomal.core.notifications import Notifications
from loomal.core.outbox_store import OUTBOX_STATES, OutboxRow
from loomal.core.ports import Store
from loomal.core.timestamps import from_micros
from loomal.runtime import store_session

__all__ = ["webhooks"]


def _notifications(store: Store) -> Notifications:
    return Notifications(store, AuditLog(store), enabled=True)


def _at(micros: int | None) -> str:
    return "-" if micros is None else from_micros(micros).strftime("%Y-%m-%d %H:%M:%SZ")


@click.group()
def webhooks() -> None:
    """The webhook outbox: events waiting, delivered, or dead after their last attempt."""


@webhooks.command("list")
@click.option("--state", type=click.Choice(OUTBOX_STATES), help="Only events in this state.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@store_options
@reports_errors
def list_events(
    state: str | None,
    limit: int,
    as_json: bool,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Webhook events, newest first."""
    settings = server_settings(data_dir=data_dir, database_url=database_url)

    async def listed() -> list[OutboxRow]:
        async with store_session(settings) as store:
            return await _notifications(store).list_events(state=state, limit=limit)

    rows = run_async(listed())
    if as_json:
        shown = [
            {
                "eventId": r.event_id,
                "type": r.kind,
                "state": r.state,
                "attempts": r.attempts,
                "lastError": r.last_error,
                "createdAt": _at(r.created_at),
                "nextAttemptAt": _at(r.next_attempt_at) if r.state == "pending" else None,
            }
            for r in rows
        ]
        click.echo(msgspec.json.encode(shown).decode())
        return
    table = make_table(
        "event", "type", "state", "attempts", "last error", "created", "next attempt",
        whole=("event",),
    )  # fmt: skip
    for r in rows:
        table.add_row(
            r.event_id,
            r.kind,
            r.state,
            str(r.attempts),
            r.last_error or "-",
            _at(r.created_at),
            _at(r.next_attempt_at) if r.state == "pending" else "-",
        )
    print_table(table)


@webhooks.command("retry")
@click.argument("event_id")
@store_options
@reports_errors
def retry(event_id: str, data_dir: str | None, database_url: str | None) -> None:
    """Send a dead event again (from its first attempt), e.g. after fixing the receiver."""
    settings = server_settings(data_dir=data_dir, database_url=database_url)

    async def retried() -> None:
        async with (
            store_session(settings) as store,
            operator_session(settings, "webhook_retry", store) as note,
        ):
            note.detail = f"event={event_id}"
            await _notifications(store).retry(event_id)

    run_async(retried())
    click.echo(f"{event_id} will be sent again within seconds by a running server.")
