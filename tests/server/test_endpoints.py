"""The endpoint table: one declaration per endpoint routes the request, labels its
metrics and describes it in the OpenAPI document; no handler exists that never
runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from loomal.config import ServerSettings
from loomal.server.app import create_app
from loomal.server.endpoints import ENDPOINTS, TABLE
from loomal.server.openapi import litestar_path
from tests.conftest import Api

LOGIN = {"type": "LOGIN", "data": {"password": "pw-Zq8v"}}


@pytest.fixture
def observed(settings: ServerSettings) -> Iterator[Api]:
    fields = {"data_dir": str(settings.data_dir), "database_url": settings.database_url}
    configured = ServerSettings.load({**fields, "metrics": True}, env={})
    app = create_app(settings=configured)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client=client, settings=configured, app=app)


def _counts(api: Api) -> dict[tuple[str, str], float]:
    """``(method, route) -> requests`` from /metrics, summed over statuses."""
    counts: dict[tuple[str, str], float] = {}
    for line in api.client.get("/metrics").text.splitlines():
        if line.startswith("loomal_http_requests_total{"):
            labels, value = line.rsplit(" ", 1)
            fields = dict(
                part.split("=", 1) for part in labels[labels.index("{") + 1 : -1].split(",")
            )
            key = (fields["method"].strip('"'), fields["route"].strip('"'))
            counts[key] = counts.get(key, 0) + float(value)
    return counts


def test_unknown_methods_add_no_series_and_every_route_has_its_template(observed: Api) -> None:
    """Issue 28.8: 200 keyless requests with random method tokens add one series, not
    200; /fetch, the proxy and health are labelled by their templates."""
    for i in range(200):
        observed.client.request(f"M{i}X", "/v0/vault/x")
    h = observed.headers()
    observed.client.put("/v0/vault/named-Zq8v", json=LOGIN, headers=h)
    observed.client.post("/v0/vault/named-Zq8v/fetch", json={"url": "http://x"}, headers=h)
    observed.client.get("/v0/proxy/named-Zq8v/some/path", headers=h)
    observed.client.head("/v0/health")
    observed.client.get("/v0/health")
    counts = _counts(observed)
    assert counts[("OTHER", "/v0/vault/{name}")] == 200
    assert not any(method.startswith("M") for method, _ in counts)
    assert counts[("POST", "/v0/vault/{name}/fetch")] == 1
    assert counts[("GET", "/v0/proxy/{name}/{path...}")] == 1
    assert counts[("HEAD", "/v0/health")] == 1 and counts[("GET", "/v0/health")] == 1
    assert not any("Zq8v" in route for _, route in counts)


def test_head_health_answers_200_without_a_body(api: Api) -> None:
    head = api.client.head("/v0/health")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["cache-control"] == "no-store"
    assert "x-request-id" in head.headers


def test_the_served_app_holds_only_handlers_that_run(api: Api) -> None:
    """Litestar serves the route entries and the console, nothing else: the fast
    entries (the hot read, TOTP, health) have no Litestar handler standing in for
    them (issue 23: those were OpenAPI declarations that never ran)."""
    app: Any = api.app
    served = {
        (method, route.path)
        for route in app.litestar.routes
        for method in getattr(route, "methods", ())
        if route.path.startswith("/v0") and method not in ("OPTIONS", "HEAD")
    }
    wanted = {
        (e.method, litestar_path(e.path).replace(":str", "").replace(":path", ""))
        for e in ENDPOINTS
        if e.route is not None
    }
    assert {(m, p.replace(":str", "").replace(":path", "")) for m, p in served} == wanted
    assert ("GET", "/v0/vault/{name}") not in served
    assert ("GET", "/v0/vault/{name}/totp") not in served


def test_each_endpoint_is_declared_once_and_served_one_way() -> None:
    seen = set()
    for endpoint in ENDPOINTS:
        assert (endpoint.method, endpoint.path) not in seen
        seen.add((endpoint.method, endpoint.path))
        ways = [endpoint.route, endpoint.fast, endpoint.raw]
        assert sum(way is not None for way in ways) >= 1, endpoint
        assert endpoint.raw is None or (endpoint.route is None and endpoint.fast is None)
    with pytest.raises(ValueError, match="declared twice"):
        type(TABLE)((ENDPOINTS[0], ENDPOINTS[0]))


@pytest.mark.parametrize(
    ("method", "path", "label"),
    [
        ("GET", "/v0/vault/a", ("GET", "/v0/vault/{name}")),
        ("GET", "/v0/vault/a/totp", ("GET", "/v0/vault/{name}/totp")),
        ("BREW", "/v0/vault/a/totp", ("OTHER", "/v0/vault/{name}/totp")),
        ("POST", "/v0/vault/a/fetch", ("POST", "/v0/vault/{name}/fetch")),
        ("PUT", "/v0/proxy/a", ("PUT", "/v0/proxy/{name}/{path...}")),
        ("PUT", "/v0/proxy/a/b/c", ("PUT", "/v0/proxy/{name}/{path...}")),
        ("GET", "/v0/platform/identities/id_1", ("GET", "/v0/platform/identities/{identity_id}")),
        ("POST", "/mcp", ("POST", "/mcp")),
        ("GET", "/v0/vault/a/b/c", ("GET", "other")),
        ("GET", "/console-page", ("GET", "other")),
    ],
)
def test_labels_come_from_the_table(method: str, path: str, label: tuple[str, str]) -> None:
    assert TABLE.labels(method, path) == label


def test_the_hot_routes_check_the_host_header_like_the_rest(api: Api) -> None:
    """Issue 28: one rule for every endpoint (Litestar's), checked in one place; the
    hot read, TOTP and store answered a request with any Host before."""
    h = api.headers()
    api.client.put("/v0/vault/x", json=LOGIN, headers=h)
    bad = h | {"host": "F_/"}
    for method, path in (("GET", "/v0/vault/x"), ("GET", "/v0/vault/x/totp"), ("GET", "/v0/vault")):
        answer = api.client.request(method, path, headers=bad)
        assert answer.status_code == 400, (path, answer.text)
        assert answer.json()["message"] == "The Host header is not a valid host name."
    stored = api.client.put("/v0/vault/x", json=LOGIN, headers=bad)
    assert stored.status_code == 400
    assert api.client.get("/v0/vault/x", headers=h).json()["version"] == 1  # nothing written


@pytest.mark.parametrize("field", ["data", "metadata"])
def test_a_number_no_float_holds_is_a_422_naming_the_field(api: Api, field: str) -> None:
    """``1e400`` is valid JSON but no float: 422 naming where it is (it was a 400 that
    called the body malformed JSON), and nothing is stored."""
    h = api.headers() | {"content-type": "application/json"}
    inner = '{"deep": [1, -1e400]}' if field == "data" else '{"x": 1e400}'
    data = inner if field == "data" else '{"x": "y"}'
    metadata = inner if field == "metadata" else "{}"
    body = f'{{"type": "CUSTOM", "data": {data}, "metadata": {metadata}}}'
    answer = api.client.put("/v0/vault/big-number", content=body, headers=h)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "validation_error"
    assert answer.json()["message"].startswith(f"{field}: a number is out of range")
    assert api.client.get("/v0/vault/big-number", headers=h).status_code == 404
