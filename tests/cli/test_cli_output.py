"""What the server-host commands print, without a server: tables that never cut a
value at 80 columns (piped or on a terminal), and ``identity revoke`` taking a key
prefix pasted from ``identity list``."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from loomal.cli import main
from loomal.cli.admin_audit import audit_table
from loomal.cli.tables import print_table
from tests.conftest import create_store

ANSI = re.compile(r"\x1b\[[0-9;]*m")
LONG_NAME = "a-rather-long-identity-name-for-a-narrow-terminal"


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def at_80_columns(*, terminal: bool) -> dict[str, str]:
    """COLUMNS=80, and rich told plainly whether stdout is a terminal."""
    return {"COLUMNS": "80", "TTY_COMPATIBLE": "1" if terminal else "0", "NO_COLOR": "1"}


@pytest.fixture
def data(tmp_path: Path) -> list[str]:
    create_store(tmp_path / "data")
    return ["--data-dir", str(tmp_path / "data")]


def create(name: str, data: list[str]) -> str:
    created = invoke("identity", "create", name, "--scopes", "vault:read,vault:write", *data)
    assert created.exit_code == 0, created.output
    return created.stdout.strip().splitlines()[-1]


def identities(data: list[str]) -> dict[str, dict[str, Any]]:
    listing = invoke("identity", "list", "--json", *data)
    assert listing.exit_code == 0, listing.output
    return {i["name"]: i for i in json.loads(listing.stdout)}


@pytest.mark.parametrize("terminal", [False, True], ids=["piped", "terminal"])
def test_identity_list_keeps_key_prefixes_whole_at_80_columns(
    data: list[str], terminal: bool
) -> None:
    for name in (LONG_NAME, "ci-bot"):
        create(name, data)
    shown = invoke("identity", "list", *data, env=at_80_columns(terminal=terminal))
    assert shown.exit_code == 0, shown.output
    table = ANSI.sub("", shown.stdout)
    listed = identities(data)
    for info in listed.values():
        assert f"{info['keys'][0]['prefix']}…" in table  # not loid-N7…
    lines = table.splitlines()
    if terminal:  # fits the terminal: long values fold onto more lines instead
        assert max(len(line) for line in lines) <= 80
        assert table.count("…") == len(listed)  # the prefixes' own: nothing else is cut
    else:  # piped: one line per row, every value whole, for grep
        for info in listed.values():
            (row,) = [line for line in lines if info["identityId"] in line]
            assert info["name"] in row
            assert "vault:read vault:write" in row


def test_revoke_takes_a_key_prefix_as_identity_list_shows_it(data: list[str]) -> None:
    keys = {name: create(name, data) for name in ("bot-a", "bot-b", "bot-c")}
    table = invoke("identity", "list", *data, env=at_80_columns(terminal=False)).stdout
    prefix = {name: info["keys"][0]["prefix"] for name, info in identities(data).items()}
    pasted = f"{prefix['bot-a']}…"
    assert pasted in table

    revoked = invoke("identity", "revoke", pasted, *data)
    assert (revoked.exit_code, revoked.stdout) == (0, "Revoked 1 API key(s).\n")
    typed = invoke("identity", "revoke", f"{prefix['bot-b']}...", *data)
    assert (typed.exit_code, typed.stdout) == (0, "Revoked 1 API key(s).\n")
    states = {name: info["keys"][0]["revokedAt"] for name, info in identities(data).items()}
    assert states["bot-a"] and states["bot-b"]
    assert states["bot-c"] is None

    again = invoke("identity", "revoke", pasted, *data)
    assert again.exit_code == 1
    assert f"No live API key matches {prefix['bot-a']!r}." in again.stderr
    # a prefix cut short (as a narrow table used to show it) matches nothing, never several keys
    cut = invoke("identity", "revoke", prefix["bot-c"][:7] + "…", *data)
    assert cut.exit_code == 1
    assert f"No live API key matches {prefix['bot-c'][:7]!r}." in cut.stderr
    # a mistyped whole key with an ellipsis is still looked up as a key, and never echoed
    mistyped = keys["bot-c"][:-1] + "…"
    wrong = invoke("identity", "revoke", mistyped, *data)
    assert (wrong.exit_code, wrong.stderr) == (1, "error: No such API key.\n")
    assert identities(data)["bot-c"]["keys"][0]["revokedAt"] is None
    assert keys["bot-c"][:-1] not in wrong.output
    assert invoke("identity", "revoke", keys["bot-c"] + "...", *data).exit_code == 0


def _audit_like_table() -> tuple[Any, list[str]]:
    row = [
        "2026-12-06 00:59:01",
        "id_fd64ac357578d2043c95a816",
        "-",
        "loid-J1D0agnU",
        "billing-bot",
        "authenticate",
        "stripe-production-key",
        "unauthorized",
        "127.0.0.1",
        "bad key",
    ]
    table = audit_table()
    table.add_row(*row)
    return table, row


@pytest.mark.parametrize("width", [80, 30])
def test_whole_columns_are_never_cut_and_others_fold(width: int) -> None:
    table, row = _audit_like_table()
    out = io.StringIO()
    print_table(table, Console(file=out, force_terminal=True, width=width, color_system=None))
    lines = out.getvalue().splitlines()
    assert "…" not in out.getvalue()
    assert any("│ 2026-12-06 00:59:01 │" in line for line in lines)
    assert any("│ loid-J1D0agnU │" in line for line in lines)
    if width == 80:  # the whole columns fit: the table fits the terminal
        assert max(len(line) for line in lines) <= 80
    # every folded value is all there, read down its column
    cells = [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines if "│" in line]
    for index, value in enumerate(row):
        assert "".join(cells_row[index] for cells_row in cells).replace(" ", "") == value.replace(
            " ", ""
        )
