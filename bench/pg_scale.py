"""A million credentials on PostgreSQL: does a vault that grew stay as fast?

    make bench-scale      # or: .venv/bin/python bench/pg_scale.py [--identities 1000]

Issue 29's scale check. Seeds a fresh database beside ``--postgres`` (the CI's
``test``) with ``--identities`` identities of ``--per-identity`` credentials each,
every one written through the core (sealed, versioned, audited, as an agent's
store would be), by two processes at once. Then starts ``loomal serve --workers 2``
on it and, in the same run, on a small vault (one identity, 100 credentials), and
measures alternately on both: a read of a random credential of a random identity
(32 connections), and a page of 100 from a random place in a random identity's
list (4 connections: a latency figure, not a throughput one). Reports the
workers' peak memory. Writes docs/benchmarks-scale.md; no figure is typed by hand.
Slow (the seeding takes minutes), so not part of ``make bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import pgdb, wrk  # noqa: E402
from bench.run import (  # noqa: E402
    Loomal,
    cpu_seconds,
    mean,
    scale_name,
    seed_identity,
    settle,
    start_loomal,
    stop_process,
    tree_peak_rss_mb,
    tree_pids,
)
from loomal.core.types import encode_name_cursor  # noqa: E402

SMALL = 100
"""Credentials in the small vault (one identity), as in ``make bench``."""
PAGE = 100
_IN_FLIGHT = 256
"""Stores one seeding process keeps going at once."""


def seed_share(
    url: str, master_key: str, data_dir: str, first: int, last: int, per: int
) -> list[str]:
    """Identities ``first``..``last - 1`` with ``per`` credentials each, written through
    the core; returns their API keys (in order)."""
    from loomal.config import ServerSettings
    from loomal.core.models import StoreRequest
    from loomal.runtime import open_vault

    async def fill() -> list[str]:
        settings = ServerSettings.load(
            {"data_dir": data_dir, "database_url": url}, env={"LOOMAL_MASTER_KEY": master_key}
        )
        vault = await open_vault(settings, env={})
        keys = []
        try:
            for n in range(first, last):

                def request_for(i: int, n: int = n) -> StoreRequest:
                    return StoreRequest(
                        type="API_KEY",
                        data={"key": f"sk_live_{n:04d}_{i:06d}"},
                        metadata={"owner": f"agent-{n:04d}", "n": i},
                    )

                keys.append(
                    await seed_identity(
                        vault, f"agent-{n:04d}", per, request_for, in_flight=_IN_FLIGHT
                    )
                )
            return keys
        finally:
            await vault.close()

    return asyncio.run(fill())


def seed(url: str, master_key: str, workdir: Path, identities: int, per: int) -> list[str]:
    """Two processes (the machine's two cores), each seeding half of the identities."""
    seed_share(url, master_key, str(workdir / "seed-schema"), 0, 0, per)  # migrations, once
    half = identities // 2
    shares = [(0, half), (half, identities)] if half else [(0, identities)]
    with ProcessPoolExecutor(len(shares)) as pool:
        futures = [
            pool.submit(seed_share, url, master_key, str(workdir / f"seed-{a}"), a, b, per)
            for a, b in shares
        ]
        return [key for future in futures for key in future.result()]


def lua_random(path: Path, keys: list[str], per: int, *, page: bool) -> Path:
    """A wrk script: each request a random identity's key and a random credential
    (``page``: a page of 100 starting after a random name)."""
    if page:
        targets = [
            f"/v0/vault?limit={PAGE}&cursor={encode_name_cursor(scale_name(i))}"
            for i in range(max(per - PAGE, 1))
        ]
    else:
        targets = [f"/v0/vault/{scale_name(i)}" for i in range(per)]
    path.write_text(
        f"""
local keys = {{{", ".join(f'"{key}"' for key in keys)}}}
local paths = {{{", ".join(f'"{target}"' for target in targets)}}}
{wrk.THREAD_IDS_LUA}
function init(args)
  math.randomseed(os.time() + (id or 0) * 7919)
end
request = function()
  local key = keys[math.random(1, #keys)]
  local path = paths[math.random(1, #paths)]
  return wrk.format("GET", path, {{["Authorization"] = "Bearer " .. key}})
end
"""
    )
    return path


@dataclass
class Measured:
    results: list[wrk.Result] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)

    def mean(self, attr: str) -> float:
        return mean(self.results, attr)

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.results)


def table_size_mb(url: str) -> tuple[int, float]:
    with psycopg.connect(url, autocommit=True) as conn:
        count, size = conn.execute(
            "SELECT count(*), pg_total_relation_size('credentials') FROM credentials"
        ).fetchone() or (0, 0)
    return int(count), size / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--identities", type=int, default=1000)
    parser.add_argument("--per-identity", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", default=pgdb.DEFAULT_URL)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks-scale.md")
    args = parser.parse_args()
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="loomal-scale-"))
    master_key = base64.b64encode(os.urandom(32)).decode()
    print(f"work dir {workdir}", flush=True)
    with contextlib.ExitStack() as stack:
        big_url = stack.enter_context(pgdb.fresh_database(args.postgres))
        small_url = stack.enter_context(pgdb.fresh_database(args.postgres))
        t0 = time.monotonic()
        big_keys = seed(big_url, master_key, workdir, args.identities, args.per_identity)
        seed_seconds = time.monotonic() - t0
        total = args.identities * args.per_identity
        print(f"seeded {total} credentials in {seed_seconds:.0f} s", flush=True)
        small_keys = seed(small_url, master_key, workdir, 1, SMALL)
        with psycopg.connect(big_url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")  # what autovacuum would have done by now
            conn.execute("CHECKPOINT")  # the seeding's dirty pages: not during the rounds
        rows, size_mb = table_size_mb(big_url)

        servers: dict[str, Loomal] = {}
        for tag, url in (("big", big_url), ("small", small_url)):
            server = start_loomal(workdir, master_key, database_url=url, tag=tag)
            stack.callback(stop_process, server.process)
            servers[tag] = server
        lua = workdir / "lua"
        lua.mkdir()
        one_agent = big_keys[len(big_keys) // 2 : len(big_keys) // 2 + 1]
        plans = {
            ("read", "large, one agent"): ("big", one_agent, args.per_identity),
            ("read", "large, every agent"): ("big", big_keys, args.per_identity),
            ("read", "small"): ("small", small_keys, SMALL),
            ("page", "large, every agent"): ("big", big_keys, args.per_identity),
            ("page", "small"): ("small", small_keys, SMALL),
        }
        scripts = {
            plan: lua_random(lua / f"{n}.lua", keys, per, page=plan[0] == "page")
            for n, (plan, (_, keys, per)) in enumerate(plans.items())
        }
        connections = {"read": 32, "page": 4}
        found = {plan: Measured() for plan in plans}
        pids = {tag: tree_pids(s.process.pid) for tag, s in servers.items()}
        print("warm-up", flush=True)
        for (kind, tag), script in scripts.items():
            vault = plans[(kind, tag)][0]
            wrk.run(
                servers[vault].url + "/", script=script, seconds=3, connections=connections[kind]
            )
        for round_no in range(args.rounds):
            order = list(scripts.items())
            if round_no % 2:
                order.reverse()
            for (kind, tag), script in order:
                vault = plans[(kind, tag)][0]
                settle([p for ps in pids.values() for p in ps] + pgdb.backend_pids(big_url))
                before = cpu_seconds(pids[vault])
                result = wrk.run(
                    servers[vault].url + "/",
                    script=script,
                    seconds=args.seconds,
                    connections=connections[kind],
                )
                cpu = (cpu_seconds(pids[vault]) - before) / max(result.requests, 1) * 1e6
                found[(kind, tag)].results.append(result)
                found[(kind, tag)].cpu_us.append(cpu)
                print(
                    f"  {kind} {tag:18s} {result.rps:8.0f} req/s  p50 {result.p50_ms:6.2f} ms"
                    f"  p99 {result.p99_ms:6.2f} ms  {cpu:5.0f} µs CPU/req  errors {result.errors}",
                    flush=True,
                )
        rss = {tag: tree_peak_rss_mb(server.process.pid) for tag, server in servers.items()}
    report = render(args, found, rss, seed_seconds, rows, size_mb, time.monotonic() - started)
    args.out.write_text(report)
    print(report)


def render(
    args: argparse.Namespace,
    found: dict[tuple[str, str], Measured],
    rss: dict[str, dict[int, float]],
    seed_seconds: float,
    rows: int,
    size_mb: float,
    elapsed: float,
) -> str:
    read_small = found[("read", "small")]
    read_one = found[("read", "large, one agent")].mean("rps") / read_small.mean("rps")
    read_every = found[("read", "large, every agent")].mean("rps") / read_small.mean("rps")
    page_big = found[("page", "large, every agent")]
    page_p99 = max(r.p99_ms for r in page_big.results)
    peak = {tag: _worker_peak(by_pid) for tag, by_pid in rss.items()}
    lines = [
        "# Loomal Vault at scale on PostgreSQL",
        "",
        f"Generated by `make bench-scale` (bench/pg_scale.py) on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores "
        f"({platform.machine()}), Python {platform.python_version()}, in {elapsed / 60:.0f} min. "
        "No figure is typed by hand.",
        "",
        f"**The large vault**: {rows:,} credentials ({args.identities:,} identities of "
        f"{args.per_identity:,}), each written through the core by two processes in "
        f"{seed_seconds:.0f} s ({rows / seed_seconds:,.0f} stores/s, sealed, versioned "
        f"and audited); the `credentials` table and its indexes: {size_mb:,.0f} MB. "
        f"**The small vault**: one identity of {SMALL} credentials. Each is served by its "
        "own `loomal serve --workers 2` on its own database of the same PostgreSQL, "
        f"measured alternately, {args.rounds} rounds of {args.seconds} s.",
        "",
        "Read: `GET /v0/vault/{name}`, 32 connections: on the small vault a random one "
        f"of its {SMALL}; on the large one, a random one of one identity's "
        f"{args.per_identity:,} (one agent: what the vault's size alone does), and a "
        "random one of a random identity, each request with that identity's key (every "
        "agent: also what a thousand keys do, each authenticated again once its "
        "cached principal is older than `--auth-cache-seconds`). Page: "
        f"`GET /v0/vault?limit={PAGE}&cursor=...` from a random place of a random "
        "identity's list, 4 connections.",
        "",
        "| scenario | vault | req/s | p50 ms | p99 ms | server CPU µs/req | errors |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for (kind, tag), measured in found.items():
        label = "read one credential" if kind == "read" else f"page of {PAGE}"
        lines.append(
            f"| {label} | {tag} | {measured.mean('rps'):,.0f} | {measured.mean('p50_ms'):.2f} "
            f"| {measured.mean('p99_ms'):.2f} | {sum(measured.cpu_us) / len(measured.cpu_us):.0f} "
            f"| {measured.errors} |"
        )
    lines += [
        "",
        "**Targets (issue 29)**:",
        "",
        "| target | this run | met |",
        "|---|---|---|",
        f"| read within 10% of the small vault's rate (one agent) | {read_one:.0%} | "
        f"{'yes' if read_one >= 0.9 else 'no'} |",
        f"| the same, a thousand agents at once (for reference) | {read_every:.0%} | "
        f"{'yes' if read_every >= 0.9 else 'no'} |",
        f"| a page of {PAGE} under 20 ms p99 | {page_p99:.1f} ms (worst round) | "
        f"{'yes' if page_p99 < 20 else 'no'} |",
        f"| memory per worker bounded | peak RSS per worker {peak['big']:.0f} MB on the "
        f"large vault, {peak['small']:.0f} MB on the small one | bounds stated in "
        "docs/operations.md |",
        "",
        "Peak RSS (VmHWM) of each server's processes, MB (the supervisor first, then its "
        "workers): "
        + "; ".join(
            f"{tag} vault " + ", ".join(f"{mb:.0f}" for _, mb in sorted(by_pid.items()))
            for tag, by_pid in rss.items()
        )
        + ".",
        "",
    ]
    return "\n".join(lines)


def _worker_peak(by_pid: dict[int, float]) -> float:
    workers = sorted(by_pid.items())[1:]  # the first is the supervisor
    return max((mb for _, mb in workers), default=float("nan"))


if __name__ == "__main__":
    main()
