"""What operators of a server behind a load balancer rely on: /v0/health, /metrics,
X-Request-Id and JSON log lines, and the client address behind trusted proxies."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from loomal.config import ServerSettings
from loomal.server.app import create_app
from loomal.server.client_address import ClientAddresses
from loomal.server.request_log import JsonFormatter
from loomal.unseal_agent import UnsealAgent
from tests.conftest import Api, auth
from tests.server.test_api import assert_error
from tests.server.test_sealed import PASSPHRASE, agent, sealed_api  # noqa: F401 (fixtures)

LOGIN = {"type": "LOGIN", "data": {"password": "pw-Zq8v"}}


def _app(settings: ServerSettings, **overrides: Any) -> Iterator[Api]:
    fields = {"data_dir": str(settings.data_dir), "database_url": settings.database_url}
    configured = ServerSettings.load({**fields, **overrides}, env={})
    app = create_app(settings=configured)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client=client, settings=configured, app=app)


@pytest.fixture
def observed(settings: ServerSettings) -> Iterator[Api]:
    yield from _app(settings, metrics=True, auth_failure_limit=3)


# -- /v0/health ----------------------------------------------------------------------------


def test_health_serves_without_a_key_and_is_never_throttled(observed: Api) -> None:
    for _ in range(5):  # the address is throttled now
        observed.client.get("/v0/vault", headers=auth("loid-" + "x" * 43))
    assert_error(observed.client.get("/v0/vault"), 429, "rate_limited")
    for _ in range(50):
        health = observed.client.get("/v0/health")
        assert health.status_code == 200
    assert health.json() == {"status": "serving", "sealed": False, "store": "ok"}
    assert health.headers["content-type"] == "application/json"
    assert health.headers["cache-control"] == "no-store"


def test_health_is_503_while_sealed_and_200_once_unsealed(
    sealed_api: Api,  # noqa: F811
    agent: UnsealAgent,  # noqa: F811
) -> None:
    sealed = sealed_api.client.get("/v0/health")
    assert sealed.status_code == 503
    assert sealed.json() == {"status": "sealed", "sealed": True, "store": "ok"}
    agent.unseal(PASSPHRASE)
    time.sleep(0.06)  # past the 50 ms throttle of forced checks (the earlier probe made one)
    health = sealed_api.client.get("/v0/health")  # the first probe after the unseal
    assert health.status_code == 200
    assert health.json() == {"status": "serving", "sealed": False, "store": "ok"}


def test_health_is_503_when_the_store_cannot_answer(api: Api) -> None:
    store: Any = api.vault.store
    if api.settings.is_postgres:
        api.call(store._pool.close)  # the pool is gone: every query fails
    else:
        store._reader.close()  # the read connection is gone
    response = api.client.get("/v0/health")
    assert response.status_code == 503
    assert response.json() == {
        "status": "store_unreachable",
        "sealed": False,
        "store": "unreachable",
    }


# -- /metrics ----------------------------------------------------------------------------


def test_metrics_are_off_unless_enabled(api: Api) -> None:
    assert_error(api.client.get("/metrics"), 404, "not_found")


def test_metrics_count_routes_and_statuses_without_names(observed: Api) -> None:
    h = observed.headers()
    observed.client.put("/v0/vault/secret-name-Zq8v", json=LOGIN, headers=h)
    for _ in range(3):
        observed.client.get("/v0/vault/secret-name-Zq8v", headers=h)
    observed.client.get("/v0/vault/other-missing-name", headers=h)
    observed.client.get("/v0/vault", headers=h)
    observed.call(observed.vault.service.flush)  # wrap counts are written once a second
    response = observed.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert "Zq8v" not in text
    assert "other-missing-name" not in text
    assert observed.new_identity().name not in text
    lines = {
        line.rsplit(" ", 1)[0]: line.rsplit(" ", 1)[1]
        for line in text.splitlines()
        if line[0] != "#"
    }

    def value(prefix: str, **labels: str) -> float:
        wanted = [f'{k}="{v}"' for k, v in labels.items()]
        found = [
            v
            for k, v in lines.items()
            if k.startswith(prefix + "{") and all(w in k for w in wanted)
        ]
        assert len(found) == 1, (prefix, labels, found)
        return float(found[0])

    assert (
        value("loomal_http_requests_total", method="GET", route="/v0/vault/{name}", status="200")
        == 3
    )
    assert (
        value("loomal_http_requests_total", method="GET", route="/v0/vault/{name}", status="404")
        == 1
    )
    assert (
        value("loomal_http_requests_total", method="PUT", route="/v0/vault/{name}", status="200")
        == 1
    )
    assert value("loomal_http_request_duration_seconds_count", route="/v0/vault/{name}") == 5
    assert (
        value("loomal_http_request_duration_seconds_bucket", route="/v0/vault/{name}", le="+Inf")
        == 5
    )
    assert value("loomal_sealed") == 0
    assert value("loomal_audit_events_pending") >= 0
    assert value("loomal_store_errors_total") == 0
    assert sum(float(v) for k, v in lines.items() if k.startswith("loomal_master_key_wraps{")) >= 1


# -- X-Request-Id and JSON logs ------------------------------------------------------------


def test_every_response_carries_a_request_id(api: Api) -> None:
    h = api.headers()
    api.client.put("/v0/vault/x", json=LOGIN, headers=h)
    responses = [
        api.client.get("/v0/vault/x", headers=h),  # hot path
        api.client.get("/v0/vault", headers=h),  # Litestar route
        api.client.get("/v0/vault/missing", headers=h),  # error on the hot path
        api.client.get("/v0/nowhere"),  # framework 404
        api.client.get("/v0/health"),
        api.client.post("/mcp", json={}, headers=h),
    ]
    ids = [r.headers.get("x-request-id") for r in responses]
    assert all(i and len(i) == 16 for i in ids), ids
    assert len(set(ids)) == len(ids)
    assert all(len(r.headers.get_list("x-request-id")) == 1 for r in responses)
    for path in ("/v0/vault/x", "/v0/vault/x/totp"):  # the hot path echoes the caller's too
        echoed = api.client.get(path, headers={**h, "x-request-id": "trace-9"})
        assert echoed.headers.get_list("x-request-id") == ["trace-9"]


@pytest.mark.parametrize(
    ("sent", "echoed"),
    [
        ("req-42.a_b:c", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ("bad id", False),
        ("line\rbreak", False),
        ("", False),
    ],
)
def test_a_well_formed_caller_request_id_is_echoed(api: Api, sent: str, echoed: bool) -> None:
    response = api.client.get("/v0/health", headers={"x-request-id": sent})
    got = response.headers["x-request-id"]
    assert (got == sent) is echoed
    assert len(got) == 16 or echoed


def test_json_access_log_lines_carry_the_request_id(settings: ServerSettings) -> None:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("loomal.access")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        for api in _app(settings, log_format="json", access_log=True):
            h = api.headers()
            api.client.put("/v0/vault/secret-name-Zq8v", json=LOGIN, headers=h)
            got = api.client.get(
                "/v0/vault/secret-name-Zq8v", headers={**h, "x-request-id": "trace-1"}
            )
            assert got.status_code == 200
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    mine = [line for line in lines if line.get("requestId") == "trace-1"]
    assert len(mine) == 1
    entry = mine[0]
    assert entry["route"] == "/v0/vault/{name}"
    assert entry["status"] == 200
    assert entry["method"] == "GET"
    assert entry["durationMs"] >= 0
    assert entry["level"] == "INFO"
    assert "Zq8v" not in buffer.getvalue()  # neither the name nor the password
    assert "pw-" not in buffer.getvalue()


# -- client address behind trusted proxies -------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "headers", "client"),
    [
        # the peer is not a trusted proxy: headers are ignored
        ("203.0.113.5", [(b"x-forwarded-for", b"198.51.100.1")], "203.0.113.5"),
        # one trusted proxy: the address it appended
        ("10.0.0.2", [(b"x-forwarded-for", b"198.51.100.1")], "198.51.100.1"),
        # the client forged a left part: the right-most untrusted hop wins
        ("10.0.0.2", [(b"x-forwarded-for", b"1.1.1.1, 198.51.100.1")], "198.51.100.1"),
        # two trusted proxies in a row
        ("10.0.0.2", [(b"x-forwarded-for", b"198.51.100.1, 10.0.0.9")], "198.51.100.1"),
        # several header lines are one list
        (
            "10.0.0.2",
            [(b"x-forwarded-for", b"198.51.100.1"), (b"x-forwarded-for", b"10.0.0.3")],
            "198.51.100.1",
        ),
        # Forwarded (RFC 7239), quoted IPv6 with a port, and IPv4 with a port
        ("10.0.0.2", [(b"forwarded", b'for="[2001:db8::17]:4711";proto=https')], "2001:db8::17"),
        ("10.0.0.2", [(b"forwarded", b"for=192.0.2.60:80, for=10.0.0.7;by=x")], "192.0.2.60"),
        # not an address: the trusted hop to its right stands for the client
        ("10.0.0.2", [(b"x-forwarded-for", b"unknown")], "10.0.0.2"),
        ("10.0.0.2", [(b"x-forwarded-for", b"198.51.100.1, garbage, 10.0.0.3")], "10.0.0.3"),
        # all trusted: the left-most
        ("10.0.0.2", [(b"x-forwarded-for", b"10.0.0.1")], "10.0.0.1"),
        # no header from a trusted proxy: the proxy itself
        ("10.0.0.2", [], "10.0.0.2"),
        # IPv4-mapped IPv6 peers count as their IPv4 address
        ("::ffff:10.0.0.2", [(b"x-forwarded-for", b"198.51.100.1")], "198.51.100.1"),
    ],
)
def test_client_address_is_the_rightmost_untrusted_hop(
    peer: str, headers: list[tuple[bytes, bytes]], client: str
) -> None:
    resolver = ClientAddresses(["10.0.0.0/8"])
    assert resolver.resolve(peer, headers) == client
    scope: dict[str, Any] = {"client": (peer, 5000), "headers": headers}
    resolver.apply(scope)
    assert scope["client"][0] == client


def test_without_trusted_proxies_nothing_is_rewritten() -> None:
    resolver = ClientAddresses([])
    assert not resolver
    assert resolver.resolve("10.0.0.2", [(b"x-forwarded-for", b"198.51.100.1")]) == "10.0.0.2"
