"""The PostgreSQL section of docs/benchmarks.md, from the figures of one run."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from typing import Any

from bench import wrk
from bench.pg_profile import Profile
from bench.pg_section import TwoServerPop

POP = "TOTP backup-code pop"


def _mean(results: list[wrk.Result], attr: str) -> float:
    return statistics.mean(getattr(r, attr) for r in results) if results else math.nan


def _avg(values: list[float]) -> float:
    return statistics.mean(values) if values else math.nan


def render(
    rows: Mapping[str, Any],
    pop: wrk.Result,
    two: TwoServerPop | None,
    round_trips: Mapping[str, float],
    profiles: Mapping[str, Profile],
    rss: Mapping[int, float],
    *,
    server_version: str,
    ops: int,
    sqlite_measured: bool,
) -> list[str]:
    lines = [
        "## PostgreSQL",
        "",
        f"`loomal serve --workers 2` on PostgreSQL {server_version} on the same machine "
        "(127.0.0.1:5432, a database the bench creates and drops, psycopg pool of up to 10 "
        "connections per worker), measured in the same interleaved rounds as the SQLite server "
        "and OpenBao above.",
        "",
        "| scenario | PostgreSQL req/s | OpenBao req/s | ratio | p50 / p99 ms | OpenBao p50 / p99 ms "
        "| PG / SQLite req/s | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows.values():
        pg_rps, bao_rps = _mean(row.pg, "rps"), _mean(row.theirs, "rps")
        vs_sqlite = f"{pg_rps / _mean(row.ours, 'rps'):.2f}" if sqlite_measured else ""
        lines.append(
            f"| {row.name} | {pg_rps:,.0f} | {bao_rps:,.0f} | **{pg_rps / bao_rps:.2f}×** | "
            f"{_mean(row.pg, 'p50_ms'):.2f} / {_mean(row.pg, 'p99_ms'):.2f} | "
            f"{_mean(row.theirs, 'p50_ms'):.2f} / {_mean(row.theirs, 'p99_ms'):.2f} | "
            f"{vs_sqlite} | {sum(r.errors for r in row.pg)} |"
        )
    lines.append(
        f"| {POP} (atomic, durable) | {pop.rps:,.0f} | — | | {pop.p50_ms:.2f} / {pop.p99_ms:.2f} "
        f"| | | {pop.errors} |"
    )
    if two is not None:
        p50 = max(r.p50_ms for r in two.results)
        p99 = max(r.p99_ms for r in two.results)
        lines.append(
            f"| {POP}, two servers on one database | {two.rps:,.0f} | — | | "
            f"{p50:.2f} / {p99:.2f} (worse server) | | | {sum(r.errors for r in two.results)} |"
        )
    lines += [
        "",
        "**CPU per request and round trips**: the server's processes and PostgreSQL's backends "
        "serving the bench's database (/proc user + system time during the measured rounds, "
        "divided by the requests served), and the database round trips one operation waits "
        f"for, counted in a separate phase: {ops} operations of each kind, one at a time, "
        "through a relay between a third server and PostgreSQL that parses the protocol (a "
        "`Sync` or a simple `Query` ends one round trip; `bench/pgwire_relay.py`), including "
        "the background flushes they cause (audit events, lastUsedAt).",
        "",
        "| scenario | server µs | PostgreSQL µs | OpenBao µs | SQLite server µs | round trips / op |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows.values():
        sqlite = f"{_avg(row.ours_cpu):.0f}" if sqlite_measured else ""
        lines.append(
            f"| {row.name} | {_avg(row.pg_cpu):.0f} | {_avg(row.pg_db_cpu):.0f} | "
            f"{_avg(row.theirs_cpu):.0f} | {sqlite} | {round_trips.get(row.name, math.nan):.2f} |"
        )
    if two is not None:
        lines.append(
            f"| {POP}, two servers | {two.server_cpu_us:.0f} | {two.db_cpu_us:.0f} | | | "
            f"{round_trips.get(POP, math.nan):.2f} |"
        )
    lines.append("")
    if two is not None:
        once = "yes" if two.duplicates == 0 and two.handed_out > 0 else "**no**"
        lines += [
            f"**Two servers, one database**: {two.handed_out:,} backup codes handed out by the "
            f"two servers together (64 credentials, 16 connections to each), "
            f"{two.duplicates} of them twice; exactly once: {once}.",
            "",
        ]
    lines += _targets(rows, round_trips, two)
    lines += _where_the_time_goes(profiles)
    if rss:
        lines += [
            "**Peak RSS** (VmHWM) of the PostgreSQL server: "
            + ", ".join(f"{mb:.0f} MB" for mb in rss.values())
            + " (supervisor, workers).",
            "",
        ]
    return lines


def _targets(
    rows: Mapping[str, Any], trips: Mapping[str, float], two: TwoServerPop | None
) -> list[str]:
    """Issue 29's targets for PostgreSQL, judged from this run."""
    checks: list[tuple[str, str, bool]] = []
    for name, label, floor in (
        ("read one credential", "read", 2.0),
        ("TOTP code", "TOTP", 2.0),
        ("durable write (overwrite 1 of 1000)", "durable write", 1.5),
    ):
        row = rows[name]
        ratio = _mean(row.pg, "rps") / _mean(row.theirs, "rps")
        checks.append((f"{label} ≥ {floor:.1f}× OpenBao", f"{ratio:.2f}×", ratio >= floor))
        ours, theirs = _mean(row.pg, "p99_ms"), _mean(row.theirs, "p99_ms")
        checks.append((f"{label} p99 < OpenBao's", f"{ours:.2f} vs {theirs:.2f} ms", ours < theirs))
    for name, label, most in (
        ("read one credential", "read round trips ≤ 1", 1.0),
        ("durable write (overwrite 1 of 1000)", "write round trips ≤ 2", 2.0),
        (POP, "pop round trips = 1", 1.0),
    ):
        value = trips.get(name, math.nan)
        checks.append((label, f"{value:.2f}", value <= most + 0.05))
    if two is not None:
        checks.append(
            ("pop on two servers exactly once", f"{two.duplicates} twice", two.duplicates == 0)
        )
    lines = [
        "**Targets on PostgreSQL** (issue 29):",
        "",
        "| target | this run | met |",
        "| --- | ---: | :---: |",
    ]
    lines += [f"| {label} | {value} | {'yes' if ok else '**no**'} |" for label, value, ok in checks]
    return [*lines, ""]


def _where_the_time_goes(profiles: Mapping[str, Profile]) -> list[str]:
    """The profile's findings, as generated text: no figure here is typed by hand."""
    if not profiles:
        return []
    lines = [
        "**Where the time goes** (`bench/pg_profile.py`: the service path of a request, "
        "authenticate and then the read or the TOTP code, with the periodic flushes, in one "
        "process on uvloop without the HTTP layer; CPU of this process only, then cProfile's "
        "exclusive time grouped by package):",
        "",
        "| store | operation | CPU µs / op | largest shares of the traced time | top function |",
        "| --- | --- | ---: | --- | --- |",
    ]
    for store, found in profiles.items():
        for op, cpu in found.cpu_us.items():
            shares = ", ".join(
                f"{k} {v:.0%}" for k, v in list(found.shares[op].items())[:3] if v >= 0.02
            )
            function, share = found.top[op][0]
            lines.append(f"| {store} | {op} | {cpu:.0f} | {shares} | `{function}` {share:.0%} |")
    lines.append("")
    if "SQLite" in profiles and "PostgreSQL" in profiles:
        lite, pg = profiles["SQLite"], profiles["PostgreSQL"]
        read_gap = pg.cpu_us["read"] - lite.cpu_us["read"]
        driver = pg.shares["read"].get("psycopg", 0) + pg.shares["read"].get("psycopg pool", 0)
        lines += [
            f"A read costs {pg.cpu_us['read'] / max(lite.cpu_us['read'], 1e-9):.1f}× the CPU on "
            f"PostgreSQL that it costs on SQLite in this process ({read_gap:.0f} µs more), and "
            f"{driver:.0%} of the traced time of a PostgreSQL read is in psycopg and its pool: "
            "SQLite answers a read of an unchanged row from the process's row cache without a "
            "query, while on PostgreSQL every read sends one statement (the TOTP code too, "
            "its code cache is keyed by the row it reads), and each statement is a prepared "
            "execute whose send, wait and result parsing in the driver outweigh all of "
            "Loomal's own work (authentication from the cache, decryption, JSON).",
            "",
        ]
    return lines
