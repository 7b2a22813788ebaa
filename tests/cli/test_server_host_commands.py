"""Server-host commands (``loomal identity``, ``loomal admin``) work on the store of a
``loomal serve``; run where there is none (the wrong directory, a wrong database
URL) they refuse, saying where they looked, and create nothing."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result

from loomal.cli import main
from tests.conftest import create_store

COMMANDS = [
    ("identity", "create", "oops"),
    ("identity", "add-key", "oops"),
    ("identity", "rotate-key", "oops"),
    ("identity", "list"),
    ("identity", "revoke", "oops"),
    ("identity", "login-link", "oops"),
    ("admin", "key-status"),
    ("admin", "audit"),
    ("admin", "rotate-master-key"),
    ("admin", "retire-key", "mk_0123456789abcdef"),
]


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_missing_store_is_refused_and_not_created(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    result = invoke(*command)  # in an empty directory (tests run in tmp_path)
    assert result.exit_code == 1
    assert result.output == (
        f"error: No vault store at {tmp_path / 'loomal-data' / 'loomal.db'}. Run this where "
        "`loomal serve` runs, or give its --data-dir (LOOMAL_DATA_DIR) or --database-url "
        "(LOOMAL_DATABASE_URL); only `loomal serve` creates a store.\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_an_existing_store_is_used(tmp_path: Path) -> None:
    create_store(tmp_path / "loomal-data")
    assert invoke("identity", "create", "agent").exit_code == 0
    assert "agent" in invoke("identity", "list").output


@pytest.mark.postgres
def test_a_database_without_a_store_is_refused_and_left_empty(postgres_url: str) -> None:
    result = invoke("identity", "create", "oops", "--database-url", postgres_url)
    assert result.exit_code == 1
    assert result.output.startswith(
        "error: No vault store in the PostgreSQL database at 127.0.0.1:5432 "
    )
    assert "only `loomal serve` creates a store." in result.output
    with psycopg.connect(postgres_url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchone()
    assert tables == (0,)
