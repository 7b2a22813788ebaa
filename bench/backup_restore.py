"""Backup, restore, migrate and verify of N credentials: time, file size, peak memory.

Builds a SQLite store of ``--credentials`` really sealed credentials (one master
key, ``--identities`` identities), then runs each command as a user would, in a
process of its own, and reports its wall time and peak RSS (``wait4``):

    backup          SQLite -> file
    restore         file -> fresh SQLite data dir
    restore-pg      file -> fresh PostgreSQL schema
    migrate-pg      SQLite -> fresh PostgreSQL schema, counts compared
    verify          every credential opened, SQLite

    .venv/bin/python bench/backup_restore.py --credentials 100000
    (PostgreSQL at LOOMAL_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test)

Run it at two sizes: a peak RSS that stays put while N grows tenfold is what
"bounded memory" means here.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec
import psycopg

from loomal.core.crypto import Binding, Keyring
from loomal.store.sqlite import SqliteStore

PG = os.environ.get("LOOMAL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def build_store(data_dir: Path, credentials: int, identities: int) -> None:
    key = os.urandom(32)
    (data_dir / "master.key").parent.mkdir(parents=True, exist_ok=True)
    (data_dir / "master.key").write_text(base64.b64encode(key).decode() + "\n")
    (data_dir / "master.key").chmod(0o600)
    keyring = Keyring.from_keys(key)
    path = data_dir / "loomal.db"
    asyncio.run(_create(path))
    now = int(time.time() * 1_000_000)
    ids = [f"id_{secrets.token_hex(8)}" for _ in range(identities)]
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO identities (identity_id, name, created_at) VALUES (?, ?, ?)",
            [(ident, f"agent-{n}", now) for n, ident in enumerate(ids)],
        )
        conn.executemany(
            "INSERT INTO api_keys (key_hash, identity_id, prefix, scopes, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [(os.urandom(32), ident, "loid-abcd", '["vault:read"]', now) for ident in ids],
        )
        batch = []
        for n in range(credentials):
            ident, cid, name = ids[n % identities], f"cred_{secrets.token_hex(8)}", f"cred-{n}"
            metadata = msgspec.json.encode({"service": "bench", "username": f"user-{n}"})
            binding = Binding(ident, cid, name, 1, "LOGIN", metadata, None)
            plain = msgspec.json.encode({"password": secrets.token_urlsafe(24)})
            sealed = keyring.seal(plain, binding)
            batch.append(
                (cid, ident, name, "LOGIN", metadata, now, now, 1, sealed.key_id,
                 sealed.wrapped_key, sealed.nonce, sealed.ciphertext)
            )  # fmt: skip
            if len(batch) == 5000 or n == credentials - 1:
                conn.executemany(
                    "INSERT INTO credentials (credential_id, identity_id, name, type, metadata, "
                    "created_at, updated_at, version, key_id, wrapped_key, nonce, ciphertext) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    batch,
                )
                batch = []


async def _create(path: Path) -> None:
    await (await SqliteStore.open(path)).close()


def timed(label: str, *args: str) -> None:
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "loomal", "admin", *args], stdout=output, stderr=output
        )
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            output.seek(0)
            raise SystemExit(f"{label} failed:\n{output.read().decode()}")
    print(f"{label:<12} {elapsed:7.2f} s   peak RSS {usage.ru_maxrss / 1024:6.1f} MiB")


def fresh_schema() -> tuple[str, str]:
    schema = "loomal_bench_" + secrets.token_hex(4)
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return schema, f"{PG}?options=-csearch_path%3D{schema}"


def drop_schema(schema: str) -> None:
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--credentials", type=int, default=100_000)
    parser.add_argument("--identities", type=int, default=100)
    parser.add_argument("--no-postgres", action="store_true")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "data"
        started = time.perf_counter()
        build_store(data, options.credentials, options.identities)
        db = data / "loomal.db"
        print(
            f"{options.credentials} credentials, {options.identities} identities: store "
            f"{db.stat().st_size / 1e6:.1f} MB, built in {time.perf_counter() - started:.1f} s"
        )
        file = root / "vault.backup"
        key = ["--master-key-file", str(data / "master.key")]
        timed("backup", "backup", str(file), "--data-dir", str(data))
        print(f"{'':<12} backup file {file.stat().st_size / 1e6:.1f} MB")
        timed("restore", "restore", str(file), "--data-dir", str(root / "restored"), *key)
        timed("verify", "verify", "--data-dir", str(data), *key)
        if options.no_postgres:
            return
        schemas = []
        try:
            schema, url = fresh_schema()
            schemas.append(schema)
            timed("restore-pg", "restore", str(file), "--database-url", url, *key)
            schema, url = fresh_schema()
            schemas.append(schema)
            timed("migrate-pg", "migrate", "--to", url, "--data-dir", str(data))
        finally:
            for schema in schemas:
                drop_schema(schema)


if __name__ == "__main__":
    main()
