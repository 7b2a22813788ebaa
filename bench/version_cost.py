"""What keeping versions costs a durable write, and what a version weighs on disk.

One vault in-process on SQLite (real group-committed store, real crypto), one
identity; ``--writes`` stores through ``VaultService.store_credential`` (the same
call as ``PUT /v0/vault/{name}``), spread over ``--names`` credentials, one at a
time, each waiting for its durable commit. Prints the wall time per write, then
the database's size (after a checkpoint) and its pages by table. Best of
``--rounds`` (noise on a shared machine only ever adds time).

Run it on this branch and on a checkout without versions to compare:

    .venv/bin/python bench/version_cost.py --writes 2000 --names 200
    PYTHONPATH=/path/to/other/src .venv/bin/python bench/version_cost.py ...
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path

from loomal.config import ServerSettings
from loomal.core.models import StoreRequest
from loomal.runtime import open_vault


async def run(
    data_dir: Path, writes: int, names: int, rounds: int
) -> tuple[list[float], list[float]]:
    settings = ServerSettings.load({"data_dir": str(data_dir)}, env={})
    vault = await open_vault(settings)
    try:
        created = await vault.identities.create_identity("bench", scopes=["vault:write"])
        who = await vault.identities.authenticate(f"Bearer {created.api_key}")
        per_write, cpu_per_write = [], []
        for r in range(rounds):
            started, cpu_started = time.perf_counter(), time.process_time()
            for i in range(writes):
                request = StoreRequest(
                    type="API_KEY",
                    data={"key": f"sk_live_{r}_{i}_" + "x" * 40},
                    metadata={"service": "bench"},
                )
                await vault.service.store_credential(who, f"key-{i % names}", request)
            per_write.append((time.perf_counter() - started) / writes)
            cpu_per_write.append((time.process_time() - cpu_started) / writes)
        return per_write, cpu_per_write
    finally:
        await vault.close()


def table_bytes(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        try:
            rows = conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
        except sqlite3.OperationalError:  # no dbstat in this build
            rows = []
        return {name: int(size) for name, size in rows if size}
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--names", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        per_write, cpu = asyncio.run(run(data_dir, args.writes, args.names, args.rounds))
        db = data_dir / "loomal.db"
        sizes = table_bytes(db)
        print(
            f"{args.writes} durable writes over {args.names} names: "
            f"{min(per_write) * 1e6:.0f} us per write, {min(cpu) * 1e6:.0f} us of CPU "
            f"(best of {args.rounds})"
        )
        print(f"database: {db.stat().st_size} bytes after a checkpoint")
        for name, size in sorted(sizes.items(), key=lambda kv: -kv[1])[:6]:
            print(f"  {name}: {size} bytes")


if __name__ == "__main__":
    main()
