"""The WAL-index header as the row cache's "anything committed since?": every
commit, from any connection or process, changes it; nothing else is needed to
keep it valid; and where it cannot be read the store falls back to PRAGMA
data_version."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from loomal.core.store import CredentialRow
from loomal.store.row_cache import RowCache
from loomal.store.sqlite import SqliteStore
from loomal.store.wal_index import open_wal_index


def wal_database(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (v INTEGER)")
    return conn


def test_every_commit_changes_the_header_and_a_read_does_not(tmp_path: Path) -> None:
    reader = wal_database(tmp_path / "db")
    index = open_wal_index(reader, tmp_path / "db")
    assert index is not None
    writer = sqlite3.connect(tmp_path / "db", isolation_level=None)
    try:
        seen = {index.header()}
        for value in range(50):
            before = index.header()
            reader.execute("SELECT count(*) FROM t").fetchone()
            assert index.header() == before  # reads leave it alone
            writer.execute("INSERT INTO t VALUES (?)", (value,))
            assert index.header() not in seen  # never back to a header seen before
            seen.add(index.header())
    finally:
        index.close()
        writer.close()
        reader.close()


def test_a_commit_by_another_process_changes_it(tmp_path: Path) -> None:
    reader = wal_database(tmp_path / "db")
    index = open_wal_index(reader, tmp_path / "db")
    assert index is not None
    try:
        before = index.header()
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
                "c.execute('INSERT INTO t VALUES (1)'); c.close()",
                str(tmp_path / "db"),
            ],
            check=True,
        )
        assert index.header() != before
    finally:
        index.close()
        reader.close()


def test_a_checkpoint_that_empties_the_wal_does_not_hide_the_next_commit(tmp_path: Path) -> None:
    reader = wal_database(tmp_path / "db")
    index = open_wal_index(reader, tmp_path / "db")
    assert index is not None
    writer = sqlite3.connect(tmp_path / "db", isolation_level=None)
    try:
        writer.execute("INSERT INTO t VALUES (1)")
        writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        before = index.header()
        writer.execute("INSERT INTO t VALUES (2)")  # restarts the WAL at frame 1
        assert index.header() != before
    finally:
        index.close()
        writer.close()
        reader.close()


def test_a_database_not_in_wal_mode_has_none(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "db", isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("CREATE TABLE t (v INTEGER)")
        assert open_wal_index(conn, tmp_path / "db") is None
    finally:
        conn.close()


def test_the_row_cache_falls_back_to_data_version_without_it(tmp_path: Path) -> None:
    """What the store does when the header cannot be read: ask PRAGMA data_version."""
    reader = sqlite3.connect(tmp_path / "db", isolation_level=None)
    reader.execute("PRAGMA journal_mode = DELETE")  # no -shm file
    reader.execute("CREATE TABLE t (v INTEGER)")
    writer = sqlite3.connect(tmp_path / "db", isolation_level=None)
    reads: list[int] = []

    def version() -> int:
        return int(reader.execute("PRAGMA data_version").fetchone()[0])

    def read() -> CredentialRow | None:
        reads.append(1)
        return None

    try:
        cache = RowCache(version)
        cache.get(("id", "name"), read)
        cache.get(("id", "name"), read)
        assert len(reads) == 1
        writer.execute("INSERT INTO t VALUES (1)")
        cache.get(("id", "name"), read)
        assert len(reads) == 2
    finally:
        writer.close()
        reader.close()


async def test_the_store_reads_it_and_unmaps_it_when_it_closes(tmp_path: Path) -> None:
    """The store reads the header while its own connection keeps the -shm file
    valid, and unmaps it first on close (a mapping that outlived the file could
    crash the process on the next read)."""
    store = await SqliteStore.open(tmp_path / "loomal.db")
    index = store._wal_index
    assert index is not None  # a local SQLite file in WAL mode: read from memory
    await store.close()
    with pytest.raises(ValueError, match="closed"):
        index.header()
