"""Run wrk and read its figures (req/s, p50, p99, errors)."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, capture_output=True)
        found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    return found


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * _UNITS[match.group(2)]


def run(url: str, *, script: Path, seconds: int, connections: int = 32, threads: int = 2) -> Result:
    out = subprocess.run(
        [
            ensure_wrk(),
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    try:
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
        p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        raise RuntimeError(f"wrk on {url}: no figures in its output:\n{out}") from None
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(x) for x in m.groups())
    return Result(rps, p50, p99, errors, requests)


THREAD_IDS_LUA = """
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end
"""
"""Lua that numbers wrk's threads (``id`` in each thread's ``init``): a random seed or
an output file of their own."""


def script(
    path: Path,
    *,
    method: str = "GET",
    headers: dict[str, str],
    body_lua: str | None = None,
    paths_lua: str | None = None,
) -> Path:
    """A wrk Lua script: fixed method and headers; optional per-request path and body."""
    lines = [f'wrk.method = "{method}"']
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    if paths_lua or body_lua:
        lines.append("math.randomseed(os.time())")
        lines.append("request = function()")
        lines.append(f"  local path = {paths_lua or 'wrk.path'}")
        lines.append(f"  local body = {body_lua or 'nil'}")
        lines.append("  return wrk.format(nil, path, nil, body)")
        lines.append("end")
    path.write_text("\n".join(lines) + "\n")
    return path
