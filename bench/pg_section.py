"""The PostgreSQL part of `make bench`: what only a shared database has.

- CPU of PostgreSQL's backends serving the bench's database, read from /proc
  like the servers' own, so a request's cost is shown on both sides of the wire.
- Two servers on one database popping backup codes at once, every code handed
  out checked to be unique (wrk writes each 200 body to a file per thread).
- Round trips per operation, counted in a separate short phase through
  :mod:`bench.pgwire_relay` by a third server pointed at the relay, so the relay
  costs nothing in the throughput rounds.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import wrk
from bench.pgwire_relay import CountingRelay

COUNTED_OPERATIONS = (
    "read one credential",
    "TOTP code",
    "durable write (overwrite 1 of 1000)",
    "TOTP backup-code pop",
    "list 100 credentials",
)


def cpu_by_pid(pids: list[int], clock_tick: float) -> dict[int, float]:
    """User + system CPU seconds of each process still running."""
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / clock_tick
    return found


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two readings; a process started in between counts from zero."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


_POP_LUA = (
    """
wrk.method = "POST"
{headers}
"""
    + wrk.THREAD_IDS_LUA  # no braces in it: safe inside a str.format template
    + """
function init(args)
  out = io.open("{prefix}" .. id .. ".txt", "w")
  out:setvbuf("line")
  math.randomseed(os.time() + id * 7919)
end
request = function()
  local path = string.format("/v0/vault/bk-%02d/totp/backup", math.random(0, {last}))
  return wrk.format(nil, path)
end
response = function(status, headers, body)
  if status == 200 then out:write(body, "\\n") end
end
"""
)


@dataclass
class RoundTrips:
    """Per operation: round trips, and the statements executed (first words, per op)."""

    per_op: dict[str, float] = field(default_factory=dict)
    again: dict[str, float] = field(default_factory=dict)
    """The same operations once more: every credential already touched by this server
    (a write's or a pop's first change of a credential reads the row first)."""
    statements: dict[str, list[tuple[str, float]]] = field(default_factory=dict)


@dataclass
class TwoServerPop:
    results: list[wrk.Result]
    handed_out: int
    duplicates: int
    server_cpu_us: float
    db_cpu_us: float

    @property
    def rps(self) -> float:
        return sum(r.rps for r in self.results)


def pop_on_two_servers(
    urls: list[str],
    headers: dict[str, str],
    lua_dir: Path,
    *,
    credentials: int,
    seconds: int,
    server_pids: list[int],
    db_pids: Callable[[], list[int]],
    clock_tick: float,
) -> TwoServerPop:
    """wrk on each server at once (16 connections each); every code received is
    read back from wrk's files and must appear once."""
    from concurrent.futures import ThreadPoolExecutor

    scripts = []
    for n, _url in enumerate(urls):
        prefix = lua_dir / f"pop-{n}-"
        script = lua_dir / f"pop-{n}.lua"
        script.write_text(
            _POP_LUA.format(
                headers="\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()),
                prefix=prefix,
                last=credentials - 1,
            )
        )
        scripts.append((prefix, script))
    servers_before = cpu_by_pid(server_pids, clock_tick)
    db_before = cpu_by_pid(db_pids(), clock_tick)
    with ThreadPoolExecutor(len(urls)) as pool:
        futures = [
            pool.submit(wrk.run, url + "/", script=script, seconds=seconds, connections=16)
            for url, (_prefix, script) in zip(urls, scripts, strict=True)
        ]
        results = [f.result() for f in futures]
    requests = max(sum(r.requests for r in results), 1)
    server_cpu = cpu_spent(servers_before, cpu_by_pid(server_pids, clock_tick))
    db_cpu = cpu_spent(db_before, cpu_by_pid(db_pids(), clock_tick))
    codes: list[str] = []
    for prefix, _script in scripts:
        for path in prefix.parent.glob(prefix.name + "*.txt"):
            codes += [json.loads(line)["code"] for line in path.read_text().splitlines() if line]
    return TwoServerPop(
        results=results,
        handed_out=len(codes),
        duplicates=len(codes) - len(set(codes)),
        server_cpu_us=server_cpu / requests * 1e6,
        db_cpu_us=db_cpu / requests * 1e6,
    )


def count_round_trips(
    url: str, headers: dict[str, str], relay: CountingRelay, *, ops: int, credentials: int
) -> RoundTrips:
    """Round trips per operation: ``ops`` of each kind, one at a time, through a server
    whose database connections pass the relay; each kind's count includes the flushes
    it causes (audit events, lastUsedAt), waited for until the relay is quiet. Each kind
    runs twice: first as it comes (a credential this server has not yet changed costs
    a read before its first change), then the same operations again."""
    found = RoundTrips()
    requests: dict[str, Callable[[httpx.Client, int], Any]] = {
        "read one credential": lambda c, i: c.get(f"/v0/vault/cred-{i % 100:03d}"),
        "TOTP code": lambda c, i: c.get("/v0/vault/gh/totp"),
        "durable write (overwrite 1 of 1000)": lambda c, i: c.put(
            f"/v0/vault/w-{i % 1000:03d}",
            json={"type": "API_KEY", "data": {"key": f"sk_live_counted_{i}"}},
        ),
        "TOTP backup-code pop": lambda c, i: c.post(
            f"/v0/vault/bk-{i % credentials:02d}/totp/backup"
        ),
        "list 100 credentials": lambda c, i: c.get("/v0/vault?limit=100"),
    }
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for name in COUNTED_OPERATIONS:
            send = requests[name]
            send(client, 0).raise_for_status()  # warm: prepared statements, caches
            for repeat, into in enumerate((found.per_op, found.again)):
                quiet(relay)
                before, statements = relay.round_trips, Counter(relay.statements)
                for i in range(ops):
                    send(client, i).raise_for_status()
                quiet(relay)
                into[name] = (relay.round_trips - before) / ops
                if repeat == 0:
                    ran = relay.statements - statements
                    found.statements[name] = [(text, n / ops) for text, n in ran.most_common()]
    return found


def quiet(relay: CountingRelay, *, for_seconds: float = 1.5, limit: float = 10) -> None:
    """Wait until no message has passed the relay for ``for_seconds`` (the servers'
    flush runs about once a second), ``limit`` at most."""
    deadline = time.monotonic() + limit
    seen, since = relay.round_trips, time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < for_seconds:
        time.sleep(0.1)
        if relay.round_trips != seen:
            seen, since = relay.round_trips, time.monotonic()


def mean_or_nan(values: list[float]) -> float:
    return statistics.mean(values) if values else float("nan")
