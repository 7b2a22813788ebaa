"""``loomal admin audit`` and the audit of server-host commands (#31 items 5, 6):
one name per action, unknown actions refused, paging past 1,000, time filters,
identities by name, keys with their label, and every operator action recorded
with the OS user who ran it, never a secret. Run in-process, on both stores."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from loomal.cli import main
from loomal.cli.common import operator_name
from loomal.config import ServerSettings
from loomal.core.ports import AuditEvent
from loomal.runtime import open_store, open_vault, store_session
from tests.conftest import create_store

HOUR = 3600 * 1_000_000


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def where(settings: ServerSettings) -> list[str]:
    """The store options of a fresh store (SQLite, or PostgreSQL)."""
    create_store(settings.data_dir, settings.database_url)
    args = ["--data-dir", str(settings.data_dir)]
    return args + (["--database-url", settings.database_url] if settings.database_url else [])


def audit_json(where: list[str], *args: str) -> list[dict[str, Any]]:
    shown = invoke("admin", "audit", "--json", *args, *where)
    assert shown.exit_code == 0, shown.output
    events: list[dict[str, Any]] = json.loads(shown.stdout)
    return events


def append(settings: ServerSettings, events: list[AuditEvent]) -> None:
    async def write() -> None:
        async with store_session(settings) as store:
            await store.append_audit_events(events=events)

    asyncio.run(write())


def event(at: int, action: str = "get", name: str = "x") -> AuditEvent:
    return AuditEvent(
        at=at,
        identity_id=None,
        actor_identity_id=None,
        key_prefix=None,
        action=action,
        credential_name=name,
        outcome="ok",
        client=None,
    )


def test_an_unknown_action_is_refused_listing_the_known_ones(where: list[str]) -> None:
    refused = invoke("admin", "audit", "--action", "bogus", *where)
    assert refused.exit_code == 2
    assert "'bogus' is not one of" in refused.output and "'totp_use_backup'" in refused.output
    helped = invoke("admin", "audit", "--help")
    assert "totp_use_backup" in helped.output and "totp_backup," not in helped.output
    assert invoke("admin", "audit", "--action", "totp_use_backup", *where).exit_code == 0


def test_paging_past_a_thousand_events_with_a_cursor_or_all(
    settings: ServerSettings, where: list[str]
) -> None:
    now = int(time.time() * 1_000_000)
    append(settings, [event(now + i, name=f"c-{i:04d}") for i in range(1205)])
    first = invoke("admin", "audit", "--json", "--limit", "1000", *where)
    page = json.loads(first.stdout)
    assert len(page) == 1000 and page[0]["credentialName"] == "c-1204"
    found = re.search(r"1000 events shown; more with --cursor (\S+) \(or --all\)", first.stderr)
    assert found is not None, first.stderr
    cursor = found.group(1)
    rest = audit_json(where, "--limit", "1000", "--cursor", cursor)
    assert [e["credentialName"] for e in rest] == [f"c-{i:04d}" for i in range(204, -1, -1)]
    everything = audit_json(where, "--all")
    assert len(everything) == 1205
    assert len({e["eventId"] for e in everything}) == 1205


def test_since_and_until_take_iso_times_and_how_long_ago(
    settings: ServerSettings, where: list[str]
) -> None:
    now = int(time.time() * 1_000_000)
    append(settings, [event(now - h * HOUR, name=f"h{h}") for h in (30, 5, 1)])
    assert [e["credentialName"] for e in audit_json(where, "--since", "2h")] == ["h1"]
    assert [e["credentialName"] for e in audit_json(where, "--since", "1d", "--until", "2h")] == [
        "h5"
    ]
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now / 1e6 - 10 * 3600))
    assert [e["credentialName"] for e in audit_json(where, "--until", iso)] == ["h30"]
    wrong = invoke("admin", "audit", "--since", "yesterday", *where)
    assert wrong.exit_code == 1 and "--since must be an ISO 8601 time" in wrong.stderr
    backwards = invoke("admin", "audit", "--since", "1h", "--until", "2h", *where)
    assert backwards.exit_code == 1 and "earlier than --until" in backwards.stderr


def test_operator_actions_are_audited_with_the_os_user_and_no_secret(
    where: list[str],
) -> None:
    made = invoke("identity", "create", "billing", "--label", "billing-bot", *where)
    assert made.exit_code == 0, made.output
    first_key = made.stdout.strip().splitlines()[-1]
    added = invoke("identity", "add-key", "billing", "--label", "night-job", *where)
    second_key = added.stdout.strip().splitlines()[-1]
    rotated = invoke("identity", "rotate-key", "billing", *where)
    assert "label: night-job" in rotated.stdout  # the newest live key's label is kept
    assert invoke("identity", "revoke", "nobody", *where).exit_code == 1  # refusals too
    assert invoke("identity", "revoke", "billing", *where).exit_code == 0
    platform = invoke("platform-key", "create", "ops", *where)
    platform_key = platform.stdout.strip().splitlines()[-1]
    assert invoke("platform-key", "revoke", platform_key, *where).exit_code == 0

    events = list(reversed(audit_json(where)))
    assert [(e["action"], e["outcome"]) for e in events] == [
        ("identity_create", "ok"),
        ("identity_add_key", "ok"),
        ("identity_rotate_key", "ok"),
        ("identity_revoke", "not_found"),
        ("identity_revoke", "ok"),
        ("platform_key_create", "ok"),
        ("platform_key_revoke", "ok"),
    ]
    me = operator_name()
    assert {e["operator"] for e in events} == {me}
    create, add = events[0], events[1]
    assert (create["identityName"], create["keyPrefix"], create["keyLabel"]) == (
        "billing",
        first_key[:13],
        "billing-bot",
    )
    assert (add["keyPrefix"], add["keyLabel"]) == (second_key[:13], "night-job")
    assert (events[4]["identityName"], events[4]["detail"]) == ("billing", "target=billing keys=3")
    assert events[5]["keyLabel"] == "ops"
    dumped = json.dumps(events)
    for secret in (first_key, second_key, platform_key):
        assert secret[13:] not in dumped

    table = invoke("admin", "audit", *where).stdout
    assert f"{me} (host)" in table and "billing-bot" in table
    only = audit_json(where, "--identity", "billing", "--action", "identity_add_key")
    assert [e["keyLabel"] for e in only] == ["night-job"]


def test_identity_list_shows_labels(where: list[str]) -> None:
    invoke("identity", "create", "crawler", "--label", "crawler-1", *where)
    invoke("identity", "add-key", "crawler", *where)
    listed = json.loads(invoke("identity", "list", "--json", *where).stdout)
    (crawler,) = [i for i in listed if i["name"] == "crawler"]
    assert sorted(k["label"] or "" for k in crawler["keys"]) == ["", "crawler-1"]
    table = invoke("identity", "list", *where).stdout
    assert "crawler-1" in table and "label" in table


def test_master_key_rotation_and_retirement_are_audited(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]

    async def first_start() -> None:  # a store and its key file, as `loomal serve` leaves them
        settings = ServerSettings.load({"data_dir": str(tmp_path / "data")}, env={})
        await (await open_store(settings, create=True)).close()
        await (await open_vault(settings)).store.close()

    asyncio.run(first_start())
    rotated = invoke("admin", "rotate-master-key", *data)
    assert rotated.exit_code == 0, rotated.output
    status = json.loads(invoke("admin", "key-status", "--json", *data).stdout)
    old = next(k["keyId"] for k in status["keys"] if not k["primary"])
    assert invoke("admin", "retire-key", old, *data).exit_code == 0
    events = audit_json(data)
    assert [(e["action"], e["operator"]) for e in reversed(events)] == [
        ("master_key_rotate", operator_name()),
        ("master_key_retire", operator_name()),
    ]
    assert events[0]["detail"] == f"key={old}"
