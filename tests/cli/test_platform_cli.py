"""``loomal platform``: the official CLI's commands and options, against a real
``loomal serve`` on loopback with a platform key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from loomal.cli import main
from tests.conftest import ServerProcess, create_store, new_platform_key, start_server

pytestmark = pytest.mark.slow  # starts a real server

PLATFORM_KEY = ""  # set per test: the platform key of the server under test


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server whose store holds no identity yet, and a platform key for it."""
    global PLATFORM_KEY
    data_dir = tmp_path / "data"
    create_store(data_dir)
    PLATFORM_KEY = new_platform_key(data_dir, cwd=tmp_path)
    proc = start_server("--data-dir", str(data_dir), cwd=tmp_path)
    monkeypatch.setenv("LOOMAL_API_URL", proc.base_url)
    yield proc
    proc.stop()


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    env = {"LOOMAL_PLATFORM_KEY": PLATFORM_KEY} if env is None else env
    return CliRunner().invoke(main, ["platform", *args], env=env, catch_exceptions=False)


def names() -> list[str]:
    """The fleet's names, oldest first (a first start made the one named ``default``)."""
    return [i["name"] for i in json.loads(invoke("list", "--json").stdout)["identities"]]


def identity_named(name: str) -> str:
    listed = json.loads(invoke("list", "--json").stdout)["identities"]
    return str(next(i["identityId"] for i in listed if i["name"] == name))


def test_the_official_commands_run_as_its_scripts_write_them(server: ServerProcess) -> None:
    created = invoke(
        "create", "--name", "Sales Agent", "--email", "salesagent", "--scopes", "vault:read"
    )
    assert created.exit_code == 0, created.output
    lines = created.stdout.strip().splitlines()
    assert lines[0] == 'Created identity "Sales Agent"'
    key = lines[-1]
    assert key.startswith("loid-") and "shown only this once" in created.stderr
    identity_id = identity_named("Sales Agent")

    listed = invoke("list", "--limit", "10")
    assert listed.exit_code == 0, listed.output
    header, _, *rows = listed.stdout.splitlines()
    row = next(line for line in rows if "Sales Agent" in line)
    assert header.split() == ["ID", "Name", "Email", "Scopes", "Usage", "Created"]
    assert row.startswith(identity_id) and "Sales Agent" in row and "vault:read" in row

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
    assert names() == ["default"]


def test_every_create_option_is_optional_here(server: ServerProcess) -> None:
    created = invoke("create", "--json")
    assert created.exit_code == 0, created.output
    body = json.loads(created.stdout)
    assert body["scopes"] == ["vault:read", "vault:write"] and body["rawKey"].startswith("loid-")
    assert body["name"]  # the server names an identity created without one


def test_paging_prints_the_next_token(server: ServerProcess) -> None:
    for name in ("a", "b", "c"):
        invoke("create", "--name", name)
    first = invoke("list", "--limit", "2")
    more = first.stdout.strip().splitlines()[-1]
    assert more.startswith("More: --page-token ")
    token = more.removeprefix("More: --page-token ")
    last = invoke("list", "--limit", "2", "--page-token", token, "--json")
    assert [i["name"] for i in json.loads(last.stdout)["identities"]] == ["b", "c"]


def test_the_key_from_the_option_either_side_or_the_official_variable(
    server: ServerProcess,
) -> None:
    no_env: dict[str, str] = {}
    assert invoke("--api-key", PLATFORM_KEY, "list", env=no_env).exit_code == 0
    assert invoke("list", "--api-key", PLATFORM_KEY, env=no_env).exit_code == 0
    # The official CLI reads every key from LOOMAL_API_KEY.
    assert invoke("list", env={"LOOMAL_API_KEY": PLATFORM_KEY}).exit_code == 0
    missing = invoke("list", env=no_env)
    assert missing.exit_code == 1
    assert "LOOMAL_PLATFORM_KEY" in missing.stderr
    wrong = invoke("list", env={"LOOMAL_PLATFORM_KEY": "lopk-" + "w" * 43})
    assert (wrong.exit_code, wrong.stderr) == (1, "error: Invalid platform key.\n")
    assert invoke("get", "id-nope").stderr == "error: No identity with this id.\n"
