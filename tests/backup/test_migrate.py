"""``loomal admin migrate --to``: the configured store copied into another, counts compared."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backup.vaults import admin, fill, key_args, read_all, serving, store_args, store_settings

pytestmark = pytest.mark.postgres


def test_sqlite_to_postgresql_and_back(tmp_path: Path, postgres_url: str) -> None:
    source = store_settings(tmp_path / "data")
    with serving(source) as served:
        filled = fill(served)
        served.call(served.vault.flush)
        result = admin("migrate", "--to", postgres_url, *store_args(source))  # while it serves
    assert result.exit_code == 0, result.output
    assert "credentials: 6 read, 6 in the target" in result.output
    assert "identities: 2 read, 2 in the target" in result.output
    assert "Migrated to PostgreSQL at 127.0.0.1:5432" in result.output
    assert "password" not in result.output.lower()

    logged = admin("audit", "--action", "restore", "--json", "--database-url", postgres_url)
    assert logged.exit_code == 0 and '"outcome":"ok"' in logged.output.replace(" ", "")
    assert "migrated from SQLite file" in logged.output
    on_postgres = store_settings(
        tmp_path / "pg-side", postgres_url, master_key_file=str(source.key_file)
    )
    assert admin("verify", *store_args(on_postgres), *key_args(on_postgres)).exit_code == 0
    with serving(on_postgres) as served:
        assert read_all(served, filled.keys) == filled.seen

    again = admin("migrate", "--to", postgres_url, *store_args(source))
    assert again.exit_code == 1 and "is not empty" in again.output

    back = store_settings(tmp_path / "back", master_key_file=str(source.key_file))
    returned = admin("migrate", "--to", str(back.data_dir), *store_args(on_postgres))
    assert returned.exit_code == 0, returned.output
    with serving(back) as served:
        assert read_all(served, filled.keys) == filled.seen


def test_migrate_needs_an_existing_store(tmp_path: Path) -> None:
    result = admin(
        "migrate", "--to", str(tmp_path / "elsewhere"), "--data-dir", str(tmp_path / "none")
    )
    assert result.exit_code == 1 and "No vault store at" in result.output
