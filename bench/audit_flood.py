"""How much a flood of unauthenticated requests grows the database (issue 15).

Drives the real app in-process (real SQLite store, the default settings, the
failed-authentication throttle on) with N requests carrying a wrong key or no
key, half on the hot path (GET /v0/vault/{name}) and half through Litestar
(GET /v0/vault), from ``--addresses`` client addresses, then writes everything
held in memory and compares the database's size (after a WAL checkpoint)
before and after.

    .venv/bin/python bench/audit_flood.py --requests 100000 --addresses 1
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from loomal.config import ServerSettings
from loomal.server.app import create_app


def db_bytes(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return int((pages - free) * size)


async def flood(app: Any, requests: int, addresses: int) -> dict[int, int]:
    statuses: dict[int, int] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] = statuses.get(message["status"], 0) + 1

    for i in range(requests):
        headers = [(b"authorization", b"Bearer loid-" + b"w" * 43)] if i % 3 else []
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/v0/vault/x" if i % 2 else "/v0/vault",
            "raw_path": b"/v0/vault",
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": (f"198.51.{(i % addresses) // 250}.{(i % addresses) % 250}", 40000),
            "server": ("127.0.0.1", 8470),
            "state": {},
        }
        await app(scope, receive, send)
    return statuses


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--addresses", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = ServerSettings.load({"data_dir": str(Path(tmp) / "data")}, env={})
        app = create_app(settings=settings)
        with TestClient(app) as client:
            vault = app.state.vault
            client.blocking_portal.call(vault.flush)
            db = settings.data_dir / "loomal.db"
            before = db_bytes(db)
            started = time.perf_counter()
            statuses = client.blocking_portal.call(flood, app, args.requests, args.addresses)
            elapsed = time.perf_counter() - started

            async def write_all() -> None:
                await vault.flush(final=True)

            client.blocking_portal.call(write_all)
            after = db_bytes(db)
            with sqlite3.connect(db) as conn:
                columns = {r[1] for r in conn.execute("PRAGMA table_info(audit_events)")}
                counted = "occurrences" if "occurrences" in columns else "1"  # before issue 15
                rows, represented = conn.execute(
                    f"SELECT count(*), coalesce(sum({counted}), 0) FROM audit_events"
                ).fetchone()
    print(
        f"{args.requests} unauthenticated requests from {args.addresses} address(es) in "
        f"{elapsed:.1f} s ({args.requests / elapsed:,.0f}/s), statuses {statuses}\n"
        f"audit rows written: {rows} (standing for {represented} requests)\n"
        f"database: {before:,} -> {after:,} bytes (+{after - before:,} bytes)"
    )


if __name__ == "__main__":
    main()
