"""Where a read and a TOTP code spend their CPU, on SQLite and on PostgreSQL.

    .venv/bin/python bench/pg_profile.py [--database-url postgresql://...] [--ops 2000]

Runs the service path a request takes (authenticate, then the read or the TOTP
code, with the periodic flush of audit events and lastUsedAt the server's
maintenance loop does) in this process on uvloop, as a worker does, without the
HTTP layer (the same for both stores). First untraced, to take the CPU time
per operation of this process (PostgreSQL's own work is in its backend, not
here), then under cProfile timing CPU (not wall time: a send that wakes
PostgreSQL's backend lets the scheduler run it at once, which a wall-clock
profile would charge to the send), whose exclusive times are grouped by package: the
share of each package is what the comparison rests on, since tracing itself
inflates every call alike.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import os
import pstats
import resource
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.pgdb import DEFAULT_URL, fresh_database

BUCKETS = (
    ("psycopg_pool", "psycopg pool"),
    ("psycopg", "psycopg"),
    ("loomal/store", "loomal store"),
    ("loomal", "loomal core"),
    ("cryptography", "cryptography"),
    ("asyncio", "asyncio"),
    ("uvloop", "asyncio"),
    ("{built-in method", "builtins / C"),
    ("{method", "builtins / C"),
)


@dataclass
class Profile:
    """One store's figures: CPU µs per operation and the profile's shares."""

    cpu_us: dict[str, float] = field(default_factory=dict)
    kernel_us: dict[str, float] = field(default_factory=dict)
    """The part of ``cpu_us`` spent in the kernel (system calls: sockets, files)."""
    shares: dict[str, dict[str, float]] = field(default_factory=dict)
    """operation -> bucket -> share of the traced exclusive time."""
    top: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    """operation -> the functions with the most exclusive time, and their shares."""
    parts: dict[str, dict[str, float]] = field(default_factory=dict)
    """operation -> step of the path -> share of the traced time inside it (inclusive)."""


PARTS = (
    ("store read", "loomal/store/", ("get_credential",)),
    ("of it, the pool", "psycopg_pool/pool_async.py", ("connection",)),
    ("decrypt", "loomal/core/service.py", ("_open",)),
    ("authenticate", "loomal/core/identities.py", ("authenticate",)),
    ("flushes", "loomal/runtime.py", ("flush",)),
)
"""The steps of a request's path whose inclusive time the profile reports: the store's
read of the row (on PostgreSQL: the pool, the statement, waiting for its answer), the
pool's part of it, opening the sealed data, authentication (cached), and the periodic
flushes of audit events and lastUsedAt."""


def bucket(filename: str) -> str:
    for needle, name in BUCKETS:
        if needle in filename:
            return name
    return "other Python"


def inclusive_parts(profiler: cProfile.Profile) -> dict[str, float]:
    """Each of PARTS' inclusive time, as a share of the whole traced loop."""
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    cumulative = {label: 0.0 for label, _, _ in PARTS}
    whole = 0.0
    for (filename, _line, function), (_cc, _nc, _tt, cumtime, _callers) in stats.items():
        if filename.endswith("pg_profile.py") and function == "run":
            whole = max(whole, cumtime)
        for label, where, functions in PARTS:
            if where in filename and function in functions:
                cumulative[label] += cumtime
    return {label: value / (whole or 1.0) for label, value in cumulative.items()}


def summarise(profiler: cProfile.Profile) -> tuple[dict[str, float], list[tuple[str, float]]]:
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    by_bucket: dict[str, float] = {}
    by_function: dict[str, float] = {}
    total = 0.0
    for (filename, line, function), (_cc, _nc, tottime, _ct, _callers) in stats.items():
        where = filename if filename != "~" else function
        name = bucket(where)
        by_bucket[name] = by_bucket.get(name, 0.0) + tottime
        label = f"{Path(filename).name}:{line}({function})" if filename != "~" else function
        by_function[label] = by_function.get(label, 0.0) + tottime
        total += tottime
    total = total or 1.0
    shares = {k: v / total for k, v in sorted(by_bucket.items(), key=lambda kv: -kv[1])}
    top = sorted(((k, v / total) for k, v in by_function.items()), key=lambda kv: -kv[1])[:6]
    return shares, top


async def measure(database_url: str | None, ops: int) -> Profile:
    from loomal.config import ServerSettings
    from loomal.core.models import StoreRequest
    from loomal.runtime import open_vault

    workdir = Path(tempfile.mkdtemp(prefix="loomal-profile-"))
    values: dict[str, object] = {"data_dir": str(workdir)}
    if database_url:
        values["database_url"] = database_url
    master_key = base64.b64encode(os.urandom(32)).decode()
    settings = ServerSettings.load(values, env={"LOOMAL_MASTER_KEY": master_key})
    vault = await open_vault(settings, env={})
    result = Profile()
    try:
        created = await vault.identities.create_identity(
            "profile", scopes=["vault:read", "vault:write", "vault:use"]
        )
        header = f"Bearer {created.api_key}"
        who = await vault.identities.authenticate(header)
        await vault.service.store_credential(
            who, "cred", StoreRequest(type="API_KEY", data={"key": "sk_live_" + "x" * 24})
        )
        await vault.service.store_credential(
            who, "gh", StoreRequest(type="TOTP", data={"secret": "JBSWY3DPEHPK3PXP"})
        )

        async def read() -> None:
            principal = await vault.identities.authenticate(header)
            await vault.service.get_credential(principal, "cred")

        async def totp() -> None:
            principal = await vault.identities.authenticate(header)
            await vault.service.totp(principal, "gh")

        operations: dict[str, Callable[[], Awaitable[None]]] = {"read": read, "TOTP": totp}
        for name, op in operations.items():
            await run(vault, op, ops // 4)  # warm: caches, prepared statements
            before = resource.getrusage(resource.RUSAGE_SELF)
            await run(vault, op, ops)
            after = resource.getrusage(resource.RUSAGE_SELF)
            user, kernel = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
            result.cpu_us[name] = (user + kernel) / ops * 1e6
            result.kernel_us[name] = kernel / ops * 1e6
            profiler = cProfile.Profile(time.process_time)  # CPU, not time descheduled
            profiler.enable()
            await run(vault, op, ops)
            profiler.disable()
            result.shares[name], result.top[name] = summarise(profiler)
            result.parts[name] = inclusive_parts(profiler)
    finally:
        await vault.close()
    return result


async def run(vault: Any, op: Callable[[], Awaitable[None]], ops: int) -> None:
    for i in range(ops):
        await op()
        if i % 200 == 199:  # the maintenance loop's flush, about once a second at load
            await vault.flush()
    await vault.flush()


def profile(database_url: str | None, ops: int) -> Profile:
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(measure(database_url, ops))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL, help="where to create a database")
    parser.add_argument("--ops", type=int, default=2000)
    args = parser.parse_args()
    with fresh_database(args.database_url) as url:
        found_pg = profile(url, args.ops)
    for label, found in (("SQLite", profile(None, args.ops)), ("PostgreSQL", found_pg)):
        for op, cpu in found.cpu_us.items():
            shares = ", ".join(f"{k} {v:.0%}" for k, v in found.shares[op].items() if v >= 0.02)
            kernel = found.kernel_us[op]
            print(f"{label:10s} {op:5s} {cpu:6.0f} µs CPU/op ({kernel:.0f} kernel)  {shares}")
            print(" " * 17 + ", ".join(f"{k} {v:.0%}" for k, v in found.parts[op].items()))
            for function, share in found.top[op]:
                print(f"{'':17s}{share:5.0%}  {function}")


if __name__ == "__main__":
    main()
