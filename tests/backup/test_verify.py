"""``loomal admin verify``: names each credential that does not open, exit 1."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg

from loomal.config import ServerSettings
from tests.backup.vaults import SECRETS, admin, fill, key_args, serving, store_args


def run_sql(settings: ServerSettings, statement: str, params: tuple[Any, ...]) -> None:
    if settings.database_url:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            conn.execute(statement.encode(), params)
        return
    with sqlite3.connect(settings.data_dir / "loomal.db") as conn:
        conn.execute(statement.replace("%s", "?"), params)


def test_a_clean_store_verifies(settings: ServerSettings) -> None:
    with serving(settings) as served:
        fill(served)
    result = admin("verify", *store_args(settings), *key_args(settings))
    assert result.exit_code == 0, result.output
    assert "Checked 6 credential(s): 6 open, 0 failed." in result.output
    assert "Checked 8 kept version(s): 8 open, 0 failed." in result.output  # 6 stores, 2 pops
    assert "By master key: mk_" in result.output


def test_a_tampered_row_is_named(settings: ServerSettings) -> None:
    with serving(settings) as served:
        fill(served)
    # one ciphertext changed; another credential given a different type (bound, not encrypted)
    run_sql(
        settings,
        "UPDATE credentials SET ciphertext = %s WHERE name = %s AND identity_id = "
        "(SELECT identity_id FROM identities WHERE name = %s)",
        (b"\x00" * 40, "stripe", "agent-1"),
    )
    run_sql(
        settings,
        "UPDATE credentials SET type = %s WHERE name = %s AND identity_id = "
        "(SELECT identity_id FROM identities WHERE name = %s)",
        ("API_KEY", "github-login", "agent-0"),
    )
    result = admin("verify", *store_args(settings), *key_args(settings))
    assert result.exit_code == 1
    assert "FAILED agent-1/stripe: integrity check failed" in result.output
    assert "FAILED agent-0/github-login: integrity check failed" in result.output
    assert "Checked 6 credential(s): 4 open, 2 failed." in result.output
    assert "Checked 8 kept version(s): 8 open, 0 failed." in result.output
    assert "2 row(s) failed verification." in result.output
    assert not any(secret in result.output for secret in SECRETS)


def test_a_row_under_a_key_not_held_is_named(settings: ServerSettings) -> None:
    with serving(settings) as served:
        fill(served, identities=1)
    run_sql(settings, "UPDATE credentials SET key_id = %s WHERE name = %s", ("mk_0000", "stripe"))
    result = admin("verify", *store_args(settings), *key_args(settings))
    assert result.exit_code == 1
    assert "FAILED agent-0/stripe: wrapped by master key mk_0000, which is not held" in (
        result.output
    )


def test_a_tampered_kept_version_is_named(settings: ServerSettings) -> None:
    with serving(settings) as served:
        fill(served, identities=1)
    run_sql(
        settings,
        "UPDATE credential_versions SET name = %s WHERE name = %s AND version = 1",
        ("renamed", "github-2fa"),
    )
    result = admin("verify", *store_args(settings), *key_args(settings))
    assert result.exit_code == 1
    assert "FAILED agent-0/renamed (kept version 1): integrity check failed" in result.output
    assert "Checked 3 credential(s): 3 open, 0 failed." in result.output
    assert "Checked 4 kept version(s): 3 open, 1 failed." in result.output
