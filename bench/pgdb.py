"""A fresh PostgreSQL database for one bench run, dropped after it.

The bench never writes into an existing database: it connects to the one named
by ``--postgres`` (the CI's ``test``) only to create ``loomal_bench_<random>``
beside it, and drops that at the end, whatever happened.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def with_port(url: str, port: int) -> str:
    """The same database through another port on loopback (the counting relay)."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{port}"))


@contextmanager
def fresh_database(admin_url: str = DEFAULT_URL) -> Iterator[str]:
    """The URL of a new empty database; dropped (its connections ended) on exit."""
    name = f"loomal_bench_{os.urandom(4).hex()}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        yield with_database(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def backend_pids(url: str) -> list[int]:
    """The PostgreSQL backends serving the database of ``url`` (not this query's own)."""
    database = urlsplit(url).path.lstrip("/")
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return [int(r[0]) for r in rows]


def server_version(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]).split(" ")[0] if row else "?"
