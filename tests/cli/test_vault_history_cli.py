"""``loomal vault history|restore|undelete|deleted`` and ``delete --destroy`` against
a real server."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner, Result

from loomal.cli import main
from tests.conftest import ServerProcess

pytestmark = pytest.mark.slow  # starts a real server process


@pytest.fixture
def cli(server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("LOOMAL_API_KEY", server.api_key or "")
    monkeypatch.setenv("LOOMAL_API_URL", server.base_url)
    return CliRunner()


def invoke(cli: CliRunner, *args: str) -> Result:
    return cli.invoke(main, list(args), catch_exceptions=False)


def store(cli: CliRunner, name: str, password: str) -> None:
    data = json.dumps({"password": password})
    assert invoke(cli, "vault", "store", name, "--type", "LOGIN", "--data", data).exit_code == 0


def test_history_restore_undelete_and_destroy(cli: CliRunner) -> None:
    store(cli, "gh", "first")
    store(cli, "gh", "second")
    shown = invoke(cli, "vault", "history", "gh")
    assert shown.exit_code == 0
    lines = shown.output.splitlines()
    assert lines[3].startswith("2 (current)") and lines[4].startswith("1 ")
    assert "first" not in shown.output and "second" not in shown.output
    old = invoke(cli, "vault", "get", "gh", "--version", "1", "--field", "data.password")
    assert old.output == "first\n"
    restored = invoke(cli, "vault", "restore", "gh", "1")
    assert restored.output == "Restored gh version 1 as version 3.\n"
    assert invoke(cli, "vault", "get", "gh", "--field", "data.password").output == "first\n"

    deleted = invoke(cli, "vault", "delete", "gh", "--yes")
    assert deleted.output == "Deleted gh (recoverable: loomal vault undelete gh).\n"
    listed = invoke(cli, "vault", "deleted", "--json")
    assert [d["name"] for d in json.loads(listed.output)["deleted"]] == ["gh"]
    store(cli, "gh", "reused")
    taken = invoke(cli, "vault", "undelete", "gh")
    assert taken.exit_code == 1 and "--as NAME" in taken.output
    back = invoke(cli, "vault", "undelete", "gh", "--as", "gh-old")
    assert back.output == "Undeleted gh as gh-old (version 4).\n"
    assert invoke(cli, "vault", "get", "gh-old", "--field", "data.password").output == "first\n"

    gone = invoke(cli, "vault", "delete", "gh-old", "--yes", "--destroy")
    assert gone.output == "Destroyed gh-old and every version of it.\n"
    assert invoke(cli, "vault", "deleted").output == "No deleted credentials.\n"
    assert invoke(cli, "vault", "undelete", "gh-old").exit_code == 1
