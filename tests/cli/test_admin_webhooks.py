"""``loomal admin webhooks``: an operator sees the events that could not be
delivered and why, and sends a dead one again once the receiver is fixed."""

from __future__ import annotations

import asyncio
import json

from click.testing import CliRunner, Result

from loomal.cli import main
from loomal.config import ServerSettings
from loomal.core.audit import AuditLog
from loomal.core.notifications import MAX_ATTEMPTS, Notifications
from loomal.runtime import store_session
from tests.conftest import ManualClock


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def flags(settings: ServerSettings) -> list[str]:
    found = ["--data-dir", str(settings.data_dir)]
    return found + (["--database-url", settings.database_url] if settings.database_url else [])


def a_dead_and_a_pending_event(settings: ServerSettings) -> str:
    async def make() -> str:
        clock = ManualClock()
        async with store_session(settings, create=True) as store:
            told = Notifications(store, AuditLog(store), enabled=True, clock=clock)
            dead = await told.emit("request.created", {"name": "a"}, identity_id=None)
            for _ in range(MAX_ATTEMPTS):
                clock.advance(3600)
                for row in await told.claim_due("dlv"):
                    await told.settle(row, "dlv", "connect_failed")
            await told.emit("request.created", {"name": "b"}, identity_id=None)
            assert dead is not None
            return dead

    return asyncio.run(make())


def test_list_shows_dead_events_and_why_then_retry_sends_one_again(
    settings: ServerSettings,
) -> None:
    dead = a_dead_and_a_pending_event(settings)
    listed = invoke("admin", "webhooks", "list", "--state", "dead", "--json", *flags(settings))
    assert listed.exit_code == 0, listed.output
    (shown,) = json.loads(listed.output)
    assert shown["eventId"] == dead
    assert (shown["state"], shown["attempts"], shown["lastError"]) == (
        "dead",
        MAX_ATTEMPTS,
        "connect_failed",
    )
    table = invoke("admin", "webhooks", "list", *flags(settings))
    assert dead in table.output and "pending" in table.output
    assert invoke("admin", "webhooks", "retry", dead, *flags(settings)).exit_code == 0
    listed = invoke("admin", "webhooks", "list", "--state", "dead", "--json", *flags(settings))
    assert json.loads(listed.output) == []
    again = invoke("admin", "webhooks", "retry", dead, *flags(settings))
    assert again.exit_code == 1
    assert again.stderr.startswith("error: No dead webhook event")
