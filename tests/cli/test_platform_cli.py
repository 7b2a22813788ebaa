"""``loomal platform``: the official CLI's commands and options, against the
platform API's stand-in on loopback (``tests/platform_fake.py``)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result

from loomal.cli import main
from tests.platform_fake import PLATFORM_KEY, FakePlatform, serve_fake_platform


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePlatform]:
    with serve_fake_platform() as (platform, url):
        monkeypatch.setenv("LOOMAL_API_URL", url)
        yield platform


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    env = {"LOOMAL_PLATFORM_KEY": PLATFORM_KEY} if env is None else env
    return CliRunner().invoke(main, ["platform", *args], env=env, catch_exceptions=False)


def test_the_official_commands_run_as_its_scripts_write_them(fake: FakePlatform) -> None:
    created = invoke(
        "create", "--name", "Sales Agent", "--email", "salesagent", "--scopes", "vault:read"
    )
    assert created.exit_code == 0, created.output
    lines = created.stdout.strip().splitlines()
    assert lines[0] == 'Created identity "Sales Agent"'
    key = lines[-1]
    assert key.startswith("loid-") and "shown only this once" in created.stderr
    assert fake.seen[-1][2] == {
        "name": "Sales Agent",
        "emailName": "salesagent",
        "scopes": ["vault:read"],
    }
    identity_id = next(iter(fake.identities))

    listed = invoke("list", "--limit", "10")
    assert listed.exit_code == 0, listed.output
    header, _, row = listed.stdout.splitlines()[:3]
    assert header.split() == ["ID", "Name", "Email", "Scopes", "Usage", "Created"]
    assert row.startswith(identity_id) and "Sales Agent" in row and "vault:read" in row
    assert fake.seen[-1][1] == "/v0/platform/identities?limit=10"

    got = invoke("get", identity_id, "--json")
    assert json.loads(got.stdout)["apiKeyPrefix"] == key[:13]

    updated = invoke(
        "update-scopes", identity_id, "--add", "vault:write, vault:use", "--remove", "vault:read"
    )
    assert updated.exit_code == 0, updated.output
    assert updated.stdout.splitlines()[-1] == "  Scopes: vault:use, vault:write"

    rotated = invoke("rotate-key", identity_id)
    new_key = rotated.stdout.strip().splitlines()[-1]
    assert new_key.startswith("loid-") and new_key != key

    deleted = invoke("delete", identity_id)
    assert deleted.stdout.strip() == f"Deleted identity {identity_id}"
    assert invoke("list").stdout.strip() == "No identities found."


def test_every_create_option_is_optional_here(fake: FakePlatform) -> None:
    created = invoke("create", "--json")
    assert created.exit_code == 0, created.output
    body = json.loads(created.stdout)
    assert body["scopes"] == ["vault:read", "vault:write"] and body["rawKey"].startswith("loid-")
    assert fake.seen[-1][2] == {}


def test_paging_prints_the_next_token(fake: FakePlatform) -> None:
    for name in ("a", "b", "c"):
        invoke("create", "--name", name)
    first = invoke("list", "--limit", "2")
    assert first.stdout.strip().splitlines()[-1] == "More: --page-token 2"
    last = invoke("list", "--limit", "2", "--page-token", "2", "--json")
    assert [i["name"] for i in json.loads(last.stdout)["identities"]] == ["c"]


def test_the_key_from_the_option_either_side_or_the_official_variable(fake: FakePlatform) -> None:
    no_env: dict[str, str] = {}
    assert invoke("--api-key", PLATFORM_KEY, "list", env=no_env).exit_code == 0
    assert invoke("list", "--api-key", PLATFORM_KEY, env=no_env).exit_code == 0
    # The official CLI reads every key from LOOMAL_API_KEY.
    assert invoke("list", env={"LOOMAL_API_KEY": PLATFORM_KEY}).exit_code == 0
    missing = invoke("list", env=no_env)
    assert missing.exit_code == 1
    assert "LOOMAL_PLATFORM_KEY" in missing.stderr
    wrong = invoke("list", env={"LOOMAL_PLATFORM_KEY": "lopk-wrong"})
    assert (wrong.exit_code, wrong.stderr) == (1, "error: A valid platform key is required.\n")
    assert invoke("get", "id-nope").stderr == "error: No such identity.\n"
