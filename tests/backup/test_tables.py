"""Every table of the migrated schema is classified for backups (one line in
``loomal.backup.tables``): a new table cannot be left out of backups silently."""

from __future__ import annotations

from loomal.backup.copying import StoreAt
from loomal.backup.tables import TABLES, unknown_tables
from loomal.config import ServerSettings
from loomal.store.backup_sql import open_reader
from tests.conftest import create_store


def test_every_table_is_classified(settings: ServerSettings) -> None:
    create_store(settings.data_dir, settings.database_url)
    reader = open_reader(StoreAt.of(settings.data_dir, settings.database_url))
    try:
        present = reader.tables()
    finally:
        reader.close()
    assert unknown_tables(present) == []
    assert {spec.name for spec in TABLES} <= set(present)
