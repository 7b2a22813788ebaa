"""What the edge's per-request work costs on the hot path: X-Request-Id (always
on), metrics (``--metrics``), a trusted-proxy lookup (``--trusted-proxy``).

One app in-process (real SQLite store, real crypto), an authenticated
``GET /v0/vault/{name}`` through its ASGI callable, N requests per run; the
variants are interleaved and each keeps its best of R runs (noise on a shared
machine only ever adds time). Times are the process's CPU time
(``time.process_time``), so waiting for a core other programs hold is not counted.

    .venv/bin/python bench/edge_cost.py --requests 20000 --runs 7
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from loomal.config import ServerSettings
from loomal.server.app import create_app
from loomal.server.client_address import ClientAddresses
from loomal.server.metrics import Metrics
from loomal.server.request_log import RequestObserver


class Bypass:
    """An observer that does nothing: no request id, no metrics (the floor)."""

    passive = True

    @staticmethod
    def request_id(scope: Any) -> None:
        return None

    async def __call__(self, inner: Any, scope: Any, receive: Any, send: Any) -> None:
        await inner(scope, receive, send)


async def run(app: Any, key: str, requests: int) -> float:
    headers = [(b"authorization", f"Bearer {key}".encode())]
    statuses = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    started = time.process_time()
    for _ in range(requests):
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/v0/vault/bench",
            "headers": headers,
            "client": ("127.0.0.1", 40000),
            "query_string": b"",
        }
        await app(scope, receive, send)
    elapsed = time.process_time() - started
    assert set(statuses) == {200}, set(statuses)
    return elapsed / requests


async def edge_only(observer: Any, proxies: ClientAddresses, requests: int) -> float:
    """The edge's own work around an app that answers at once (no store, no crypto)."""

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}", "more_body": False})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    headers = [(b"authorization", b"Bearer loid-x"), (b"x-forwarded-for", b"198.51.100.1")]
    started = time.process_time()
    for _ in range(requests):
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/v0/vault/bench",
            "headers": headers,
            "client": ("10.0.0.2", 40000),
        }
        if proxies:
            proxies.apply(scope)
        await observer(inner, scope, receive, send)
    return (time.process_time() - started) / requests


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = ServerSettings.load(
            {"data_dir": str(Path(tmp) / "data"), "auth_cache_seconds": 3600}, env={}
        )
        app = create_app(settings=settings)
        with TestClient(app) as client:
            vault = app.state.vault
            created = client.blocking_portal.call(
                lambda: vault.identities.create_identity(
                    "bench", scopes=["vault:read", "vault:write"]
                )
            )
            put = client.put(
                "/v0/vault/bench",
                json={"type": "API_KEY", "data": {"key": "sk_test_" + "x" * 24}},
                headers={"Authorization": f"Bearer {created.api_key}"},
            )
            assert put.status_code == 201
            variants = {
                "no edge work (observer bypassed)": (RequestObserver(), ClientAddresses([]), True),
                "X-Request-Id (default)": (RequestObserver(), ClientAddresses([]), False),
                "X-Request-Id + --metrics": (
                    RequestObserver(metrics=Metrics()),
                    ClientAddresses([]),
                    False,
                ),
                "X-Request-Id + --metrics + --trusted-proxy": (
                    RequestObserver(metrics=Metrics()),
                    ClientAddresses(["10.0.0.0/8"]),
                    False,
                ),
            }
            best = dict.fromkeys(variants, float("inf"))
            names = list(variants)
            for run_index in range(args.runs):
                shift = run_index % len(names)  # each variant takes each place in the order
                for name in names[shift:] + names[:shift]:
                    observer, proxies, bypass = variants[name]
                    # Bypass is a duck-typed stand-in (its request_id is None: no id at all),
                    # not a RequestObserver, which is what Edge types its observer as.
                    app._observer = Bypass() if bypass else observer  # type: ignore[assignment]
                    app._proxies = proxies
                    app._direct = app._observer.passive  # as Edge.__init__ decides it
                    per_request = client.blocking_portal.call(
                        run, app, created.api_key, args.requests
                    )
                    best[name] = min(best[name], per_request)
            edge: dict[str, tuple[Bypass | RequestObserver, ClientAddresses]] = {
                "no edge work": (Bypass(), ClientAddresses([])),
                "X-Request-Id (default)": (RequestObserver(), ClientAddresses([])),
                "X-Request-Id + --log-format json (id in a context variable)": (
                    RequestObserver(tag_logs=True),
                    ClientAddresses([]),
                ),
                "X-Request-Id + --metrics": (
                    RequestObserver(metrics=Metrics()),
                    ClientAddresses([]),
                ),
                "X-Request-Id + --metrics + --trusted-proxy": (
                    RequestObserver(metrics=Metrics()),
                    ClientAddresses(["10.0.0.0/8"]),
                ),
            }
            edge_best = dict.fromkeys(edge, float("inf"))
            for _ in range(args.runs):
                for name, (edge_observer, edge_proxies) in edge.items():
                    per = client.blocking_portal.call(
                        edge_only, edge_observer, edge_proxies, 10 * args.requests
                    )
                    edge_best[name] = min(edge_best[name], per)
    print(
        f"| edge alone, around an app that answers at once | us per request (min of {args.runs} x {10 * args.requests}) |"
    )
    print("| --- | --- |")
    for name, value in edge_best.items():
        print(f"| {name} | {value * 1e6:.2f} |")
    print()
    base = best["no edge work (observer bypassed)"]
    print(f"| variant | us per request (min of {args.runs} x {args.requests}) | vs no edge work |")
    print("| --- | --- | --- |")
    for name, value in best.items():
        print(
            f"| {name} | {value * 1e6:.2f} | {(value - base) * 1e6:+.2f} us ({(value / base - 1) * 100:+.1f}%) |"
        )


if __name__ == "__main__":
    main()
