"""One body reader with one deadline for every route (issue 28.7): a client with a
valid key that trickles its body is cut at the deadline with 408 in the SPEC's
shape, on the hot store (chunked too), /fetch, the proxy, the platform API and
/mcp. The deadline here is 50 ms: nothing waits for the 30 s default."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from loomal.config import ServerSettings
from loomal.server.app import create_app
from tests.conftest import Api
from tests.server.test_platform_api import platform_key

TIMEOUT = 0.05


@pytest.fixture
def impatient(settings: ServerSettings) -> Iterator[Api]:
    fields = {"data_dir": str(settings.data_dir), "database_url": settings.database_url}
    configured = ServerSettings.load({**fields, "body_timeout_seconds": TIMEOUT}, env={})
    app = create_app(settings=configured)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client=client, settings=configured, app=app)


def _trickle(api: Api, method: str, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """The request sent straight to the app: headers, one byte of body, then nothing
    more (as a client that sends a byte every few seconds looks within the deadline)."""
    sent: list[dict[str, Any]] = []
    first = [True]

    async def receive() -> dict[str, Any]:
        if first[0]:
            first[0] = False
            return {"type": "http.request", "body": b"{", "more_body": True}
        await asyncio.Event().wait()  # the rest never comes (cancelled at the deadline)
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path.split("?")[0],
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *raw],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }

    async def run() -> None:
        await asyncio.wait_for(api.app(scope, receive, send), 5)  # type: ignore[arg-type]

    api.call(run)
    return sent


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("PUT", "/v0/vault/slow", {"content-type": "application/json", "content-length": "200"}),
        ("PUT", "/v0/vault/slow", {"content-type": "application/json"}),  # chunked
        ("POST", "/v0/vault/slow/fetch", {"content-type": "application/json"}),
        ("POST", "/v0/proxy/slow/v1/chat", {"content-type": "application/json"}),
        ("POST", "/mcp", {"content-type": "application/json", "accept": "application/json"}),
        ("POST", "/v0/platform/identities", {"content-type": "application/json"}),
    ],
)
def test_a_trickled_body_is_cut_at_the_deadline_with_408(
    impatient: Api, method: str, path: str, headers: dict[str, str]
) -> None:
    key = platform_key(impatient) if "/platform/" in path else impatient.headers()
    sent = _trickle(impatient, method, path, {**headers, **key})
    start, body = sent[0], sent[-1]
    assert start["status"] == 408, (path, sent)
    names = dict(start["headers"])
    assert names[b"connection"] == b"close"
    assert names[b"cache-control"] == b"no-store"
    assert b"x-request-id" in names
    assert json.loads(body["body"]) == {
        "error": "request_timeout",
        "message": "The request body was not received in time.",
        "status": 408,
    }
