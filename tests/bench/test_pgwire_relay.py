"""The bench's counting relay counts what a client waits for: one round trip per
Sync or simple Query, and forwards every byte, so the client sees the database."""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Iterator

import psycopg
import pytest
from bench.pgdb import with_port
from bench.pgwire_relay import CountingRelay, FrontendParser

pytestmark = pytest.mark.postgres


@pytest.fixture
def relay() -> Iterator[CountingRelay]:
    relay = CountingRelay().start()
    yield relay
    relay.stop()


def relayed(url: str, relay: CountingRelay) -> str:
    return with_port(url, relay.port) + "?sslmode=disable"


def test_a_prepared_statement_costs_one_round_trip_each_time(
    postgres_admin_url: str, relay: CountingRelay
) -> None:
    with psycopg.connect(relayed(postgres_admin_url, relay), autocommit=True) as conn:
        before = relay.round_trips
        for n in range(5):
            row = conn.execute("SELECT %s::int + 1", (n,), prepare=True).fetchone()
            assert row == (n + 1,)
        assert relay.round_trips - before == 5 + 1  # the first run also prepares it
        assert relay.statements["SELECT $1::int + 1"] == 5


def test_a_transaction_costs_its_begin_and_commit_too(
    postgres_admin_url: str, relay: CountingRelay
) -> None:
    with psycopg.connect(relayed(postgres_admin_url, relay)) as conn:
        before = relay.round_trips
        conn.execute("SELECT 1")  # BEGIN first; both simple queries (no parameters)
        conn.commit()  # COMMIT: another simple query
        assert relay.counts[b"Q"] == 3
        assert relay.round_trips - before == 3


def test_a_pipelined_executemany_is_one_round_trip(
    postgres_admin_url: str, relay: CountingRelay
) -> None:
    with psycopg.connect(relayed(postgres_admin_url, relay), autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE t (n int)")
        before = relay.round_trips
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO t VALUES (%s)", [(n,) for n in range(50)])
        assert relay.round_trips - before == 1
        assert relay.statements["INSERT INTO t VALUES ($1)"] == 50
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (50,)


def test_messages_split_across_reads_are_counted_once() -> None:
    counts: Counter[bytes] = Counter()
    parser = FrontendParser(counts)
    startup = struct.pack("!ii", 8, 80877103) + struct.pack("!ii", 9, 196608) + b"\0"
    query = b"Q" + struct.pack("!i", 4 + 9) + b"SELECT 1\0"
    stream = startup + query + b"S" + struct.pack("!i", 4)
    for byte in range(len(stream)):
        parser.feed(stream[byte : byte + 1])
    assert counts == Counter({b"Q": 1, b"S": 1})
