"""Raw rows in and out of either store, for backup, restore, migrate and verify.

These work below the Store protocol on purpose: a backup carries rows exactly as
stored (ciphertexts, wrapped keys, ids, timestamps), so nothing is decrypted,
rebuilt or re-bound on the way, and a new column or table needs no code here.

* :class:`SnapshotReader` reads every table inside ONE read transaction, so
  what it returns is one consistent moment while servers keep writing: SQLite
  (WAL) holds its snapshot from the first read of a ``BEGIN``; PostgreSQL runs
  ``REPEATABLE READ READ ONLY``. Rows stream through a cursor in batches, so
  memory stays bounded whatever the table's size.
* :class:`RowWriter` inserts rows into a store in ONE write transaction that
  commits only when everything is in (a failure leaves the target as it was).

Both are synchronous: they serve one command on the server host.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg import sql

from loomal.errors import ServerError
from loomal.store.postgres import _where
from loomal.store.sqlite_writer import _FileLock

__all__ = [
    "RowWriter",
    "SnapshotReader",
    "StoreLocation",
    "database_errors",
    "describe",
    "open_reader",
    "open_writer",
]

_BUSY_TIMEOUT_MS = 30_000


class StoreLocation(Protocol):
    """Where a store is: a SQLite file, or a PostgreSQL URL (never printed whole)."""

    @property
    def sqlite_path(self) -> Path | None: ...

    @property
    def database_url(self) -> str | None: ...


def describe(location: StoreLocation) -> str:
    """For messages: the file, or host:port of the database (never a password)."""
    if location.database_url:
        return f"PostgreSQL at {_where(location.database_url)}"
    return f"SQLite file {location.sqlite_path}"


@contextmanager
def database_errors(location: StoreLocation, doing: str) -> Iterator[None]:
    """A database's own error as a ServerError naming only its kind: a driver's
    message may quote a row's values."""
    try:
        yield
    except (sqlite3.Error, psycopg.Error) as exc:
        state = getattr(exc, "sqlstate", None)
        raise ServerError(
            f"{doing} {describe(location)} failed ({type(exc).__name__}"
            f"{f', SQLSTATE {state}' if state else ''}); nothing was committed."
        ) from None


def _quote_sqlite(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _plain(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview) else value


class SnapshotReader:
    """Every table of one store at one moment (see the module docstring)."""

    dialect: str

    def tables(self) -> list[str]:
        raise NotImplementedError

    def columns(self, table: str) -> list[str]:
        raise NotImplementedError

    def count(self, table: str) -> int:
        raise NotImplementedError

    def schema_version(self) -> int:
        (version,) = self.query_one("SELECT coalesce(max(version), 0) FROM schema_migrations")
        return int(version)

    def query_one(self, query: str, params: Sequence[Any] = ()) -> tuple[Any, ...]:
        raise NotImplementedError

    def query_all(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of ``query`` (``%s`` placeholders, in either dialect)."""
        raise NotImplementedError

    def rows(
        self, table: str, columns: Sequence[str], batch_size: int
    ) -> Iterator[list[tuple[Any, ...]]]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class _SqliteReader(SnapshotReader):
    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise ServerError(f"No vault store at {path}.")
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        self._conn.execute("PRAGMA query_only = ON")
        self._conn.execute("BEGIN")  # deferred: the snapshot is taken by the first read
        self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()

    def tables(self) -> list[str]:
        found = self._conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
        return sorted(name for (name,) in found)

    def columns(self, table: str) -> list[str]:
        info = self._conn.execute(f"PRAGMA table_info({_quote_sqlite(table)})").fetchall()
        return [row[1] for row in info]

    def count(self, table: str) -> int:
        (n,) = self._conn.execute(f"SELECT count(*) FROM {_quote_sqlite(table)}").fetchone()
        return int(n)

    def query_one(self, query: str, params: Sequence[Any] = ()) -> tuple[Any, ...]:
        return tuple(self._conn.execute(query.replace("%s", "?"), tuple(params)).fetchone())

    def query_all(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._conn.execute(query.replace("%s", "?"), tuple(params))]

    def rows(
        self, table: str, columns: Sequence[str], batch_size: int
    ) -> Iterator[list[tuple[Any, ...]]]:
        names = ", ".join(_quote_sqlite(c) for c in columns)
        (sql,) = self._conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        # A WITHOUT ROWID table has no rowid and is scanned in primary-key order anyway.
        order = "" if "WITHOUT ROWID" in str(sql).upper() else " ORDER BY rowid"
        cursor = self._conn.execute(f"SELECT {names} FROM {_quote_sqlite(table)}{order}")
        while batch := cursor.fetchmany(batch_size):
            yield [tuple(r) for r in batch]

    def close(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
        self._conn.close()


class _PostgresReader(SnapshotReader):
    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self._conn = _pg_connect(url)
        self._conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self._conn.read_only = True
        self._conn.execute("SELECT 1").fetchone()  # the snapshot starts here
        self._cursors = 0

    def tables(self) -> list[str]:
        found = self._conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        ).fetchall()
        return sorted(name for (name,) in found)

    def columns(self, table: str) -> list[str]:
        return _pg_columns(self._conn, table)

    def count(self, table: str) -> int:
        row = self._conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        ).fetchone()
        return int(row[0]) if row else 0

    def query_one(self, query: str, params: Sequence[Any] = ()) -> tuple[Any, ...]:
        row = self._conn.execute(query.encode(), tuple(params)).fetchone()
        return tuple(_plain(v) for v in row) if row else ()

    def query_all(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        found = self._conn.execute(query.encode(), tuple(params)).fetchall()
        return [tuple(_plain(v) for v in row) for row in found]

    def rows(
        self, table: str, columns: Sequence[str], batch_size: int
    ) -> Iterator[list[tuple[Any, ...]]]:
        self._cursors += 1
        query = sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in columns), sql.Identifier(table)
        )
        with self._conn.cursor(name=f"loomal_backup_{self._cursors}") as cursor:  # server side
            cursor.itersize = batch_size
            cursor.execute(query)
            while batch := cursor.fetchmany(batch_size):
                yield [tuple(_plain(v) for v in row) for row in batch]

    def close(self) -> None:
        self._conn.rollback()
        self._conn.close()


def _pg_connect(url: str) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(url, connect_timeout=15)
    except psycopg.Error as exc:
        raise ServerError(
            f"Could not connect to PostgreSQL at {_where(url)} ({type(exc).__name__})."
        ) from None


def _pg_columns(conn: psycopg.Connection[Any], table: str) -> list[str]:
    found = conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [name for (name,) in found]


def open_reader(location: StoreLocation) -> SnapshotReader:
    if location.database_url:
        return _PostgresReader(location.database_url)
    assert location.sqlite_path is not None
    return _SqliteReader(location.sqlite_path)


class RowWriter:
    """Rows into one store, in one transaction: :meth:`commit` or nothing."""

    dialect: str

    def tables(self) -> list[str]:
        raise NotImplementedError

    def columns(self, table: str) -> list[str]:
        raise NotImplementedError

    def count(self, table: str) -> int:
        raise NotImplementedError

    def schema_version(self) -> int:
        raise NotImplementedError

    def delete_all(self, table: str) -> None:
        raise NotImplementedError

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Roll back whatever was not committed."""
        raise NotImplementedError


class _SqliteWriter(RowWriter):
    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self._lock_file = open(path.with_name(path.name + ".lock"), "a+b")  # noqa: SIM115
        self._lock = _FileLock(self._lock_file.fileno())
        self._lock.__enter__()  # the servers' writer lock: no write interleaves with ours
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._conn.execute("BEGIN IMMEDIATE")
        self._reader = _SqliteReaderOn(self._conn)

    def tables(self) -> list[str]:
        return self._reader.tables()

    def columns(self, table: str) -> list[str]:
        return self._reader.columns(table)

    def count(self, table: str) -> int:
        return self._reader.count(table)

    def schema_version(self) -> int:
        return self._reader.schema_version()

    def delete_all(self, table: str) -> None:
        self._conn.execute(f"DELETE FROM {_quote_sqlite(table)}")

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        names = ", ".join(_quote_sqlite(c) for c in columns)
        marks = ", ".join("?" * len(columns))
        self._conn.executemany(
            f"INSERT INTO {_quote_sqlite(table)} ({names}) VALUES ({marks})", rows
        )

    def commit(self) -> None:
        self._conn.execute("COMMIT")

    def close(self) -> None:
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            self._conn.close()
        finally:
            self._lock.__exit__()
            self._lock_file.close()


class _SqliteReaderOn(_SqliteReader):
    """The reader's catalogue queries on a connection someone else opened."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn


class _PostgresWriter(RowWriter):
    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self._conn = _pg_connect(url)

    def tables(self) -> list[str]:
        return _PostgresReaderOn(self._conn).tables()

    def columns(self, table: str) -> list[str]:
        return _pg_columns(self._conn, table)

    def count(self, table: str) -> int:
        return _PostgresReaderOn(self._conn).count(table)

    def schema_version(self) -> int:
        return _PostgresReaderOn(self._conn).schema_version()

    def delete_all(self, table: str) -> None:
        self._conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        # COPY: the fastest way in, and it fills identity columns with the values given
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        )
        with self._conn.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)

    def commit(self) -> None:
        for table, column in self._conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND is_identity = 'YES'"
        ).fetchall():
            # the next generated id continues after the restored ones
            self._conn.execute(
                sql.SQL(
                    "SELECT setval(pg_get_serial_sequence({t}, {c}), "
                    "coalesce((SELECT max({ci}) FROM {ti}), 0) + 1, false)"
                ).format(
                    t=sql.Literal(table),
                    c=sql.Literal(column),
                    ci=sql.Identifier(column),
                    ti=sql.Identifier(table),
                )
            )
        self._conn.commit()

    def close(self) -> None:
        try:
            self._conn.rollback()
        finally:
            self._conn.close()


class _PostgresReaderOn(_PostgresReader):
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn
        self._cursors = 0


def open_writer(location: StoreLocation) -> RowWriter:
    if location.database_url:
        return _PostgresWriter(location.database_url)
    assert location.sqlite_path is not None
    return _SqliteWriter(location.sqlite_path)
