"""Migrations: numbered, the same tables in both dialects, safe to apply twice."""

from __future__ import annotations

import re
from pathlib import Path

from loomal.store import load_migrations
from loomal.store.sqlite import SqliteStore


def test_dialects_have_the_same_numbered_migrations() -> None:
    sqlite, postgres = load_migrations("sqlite"), load_migrations("postgres")
    numbers = [n for n, _ in sqlite]
    # Parallel branches reserve numbers ahead (0014 before 0011-0013 land): the
    # numbers must match across dialects and never repeat, gaps are allowed.
    assert numbers == [n for n, _ in postgres] == sorted(set(numbers))
    assert numbers[:10] == list(range(1, 11))
    for (_, a), (_, b) in zip(sqlite, postgres, strict=True):
        assert re.findall(r"CREATE (?:TABLE|INDEX) (\w+)", a) == re.findall(
            r"CREATE (?:TABLE|INDEX) (\w+)", b
        )


def test_sqlite_migrations_split_cleanly_on_semicolons() -> None:
    for _, sql in load_migrations("sqlite"):
        for line in sql.splitlines():
            if line.lstrip().startswith("--"):
                assert ";" not in line, f"a ';' in a comment breaks the statement split: {line}"


async def test_reopening_applies_nothing_twice(tmp_path: Path) -> None:
    for _ in range(2):
        store = await SqliteStore.open(tmp_path / "v.db")
        await store.close()
    import sqlite3

    with sqlite3.connect(tmp_path / "v.db") as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_migrations")]
    assert versions == [n for n, _ in load_migrations("sqlite")]
