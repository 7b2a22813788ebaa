"""The WAL-index header as the row cache's "anything committed since?": every
commit, from any connection or process, changes it; reading it never touches
SQLite's locks on the -shm file; and where it cannot be read the store falls
back to PRAGMA data_version."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from loomal.store.sqlite import SqliteStore
from loomal.store.wal_index import WalIndex, open_wal_index

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the header is read through /proc (Linux)"
)


def wal_database(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (v INTEGER)")
    return conn


def no_fallback() -> object:
    raise AssertionError("the header should have been read from memory")


def opened(conn: sqlite3.Connection, path: Path) -> WalIndex:
    index = open_wal_index(conn, path, no_fallback)
    assert index is not None
    return index


def shm_locks(path: Path) -> list[str]:
    """This process's POSIX locks on the database's -shm file, from /proc/locks."""
    st = os.stat(path.with_name(path.name + "-shm"))
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    with open("/proc/locks", encoding="ascii") as locks:
        return [
            " ".join(fields[4:])
            for fields in (line.split() for line in locks)
            if len(fields) >= 8
            and fields[1] == "POSIX"
            and fields[4] == str(os.getpid())
            and fields[5] == inode
        ]


def test_every_commit_changes_the_header_and_a_read_does_not(tmp_path: Path) -> None:
    reader = wal_database(tmp_path / "db")
    index = opened(reader, tmp_path / "db")
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
    index = opened(reader, tmp_path / "db")
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
    index = opened(reader, tmp_path / "db")
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


def test_opening_and_closing_it_leaves_sqlites_locks_alone(tmp_path: Path) -> None:
    """The bug this design replaced: a descriptor of our own on the -shm file, once
    closed, dropped every lock SQLite held there, and another process could then
    reinitialise the file under live connections."""
    reader = wal_database(tmp_path / "db")
    try:
        held = shm_locks(tmp_path / "db")
        assert held  # SQLite holds at least its "in use" lock while a connection is open
        for _ in range(3):
            index = opened(reader, tmp_path / "db")
            index.header()
            index.close()
            assert shm_locks(tmp_path / "db") == held
    finally:
        reader.close()


def test_once_it_cannot_be_read_the_fallback_answers(tmp_path: Path) -> None:
    reader = wal_database(tmp_path / "db")
    writer = sqlite3.connect(tmp_path / "db", isolation_level=None)

    def data_version() -> object:
        return reader.execute("PRAGMA data_version").fetchone()[0]

    index = open_wal_index(reader, tmp_path / "db", data_version)
    assert index is not None
    try:
        assert isinstance(index.header(), bytes)
        index.close()
        before = index.header()
        assert before == data_version()
        writer.execute("INSERT INTO t VALUES (1)")
        assert index.header() != before  # the fallback still sees every commit
    finally:
        writer.close()
        reader.close()


def test_a_forked_child_does_not_read_its_parents_memory(tmp_path: Path) -> None:
    """After fork, a descriptor on /proc/self/mem still reads the parent: the
    child must fall back rather than miss its own commits."""
    reader = wal_database(tmp_path / "db")
    index = open_wal_index(reader, tmp_path / "db", lambda: "fallback")
    assert index is not None
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through its exit status
            os._exit(0 if index.header() == "fallback" else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert isinstance(index.header(), bytes)  # the parent still reads it
    finally:
        index.close()
        reader.close()


def test_a_database_not_in_wal_mode_has_none(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "db", isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("CREATE TABLE t (v INTEGER)")
        assert open_wal_index(conn, tmp_path / "db", no_fallback) is None
    finally:
        conn.close()


async def test_the_store_reads_it_and_stops_before_its_connection_closes(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "loomal.db")
    index = store._wal_index
    assert index is not None  # a local SQLite file in WAL mode: read from memory
    assert isinstance(index.header(), bytes)
    await store.close()
    with pytest.raises(sqlite3.ProgrammingError):  # the fallback, on the closed connection
        index.header()
