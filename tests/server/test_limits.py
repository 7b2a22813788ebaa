"""Limits and key lifecycle over HTTP (and the MCP endpoint)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from loomal.config import ServerSettings
from loomal.server.app import create_app
from tests.conftest import Api, ManualClock, auth
from tests.server.test_api import assert_error


@pytest.fixture
def limited(tmp_path: object) -> Iterator[Api]:
    settings = ServerSettings.load(
        {"data_dir": str(tmp_path) + "/data", "auth_failure_limit": 5, "key_rate_limit": 2},
        env={},
    )
    app = create_app(settings=settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client=client, settings=settings, app=app)


def test_failed_authentications_are_throttled_per_address(limited: Api) -> None:
    good = limited.headers()
    for _ in range(5):
        bad = limited.client.get("/v0/vault", headers=auth("loid-" + "w" * 43))
        assert_error(bad, 401, "unauthorized", "invalid_api_key")
    throttled = limited.client.get("/v0/vault", headers=auth("loid-" + "w" * 43))
    assert_error(throttled, 429, "rate_limited")
    assert 50 <= int(throttled.headers["retry-after"]) <= 60
    # a keyless request from that address is refused too, on the REST API and on /mcp ...
    assert_error(limited.client.get("/v0/vault"), 429, "rate_limited")
    mcp = limited.client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert mcp.status_code == 429
    assert mcp.headers["retry-after"]
    # ... while a valid key from the same address is served (issue 15)
    assert limited.client.get("/v0/vault", headers=good).status_code == 200


def test_other_addresses_are_not_throttled(limited: Api) -> None:
    identities = limited.vault.identities
    for _ in range(10):
        with pytest.raises(Exception, match="Invalid API key|Too many"):
            limited.call(identities.authenticate, "Bearer loid-" + "q" * 43, client="203.0.113.9")
    good = limited.new_identity()
    who = limited.call(identities.authenticate, f"Bearer {good.api_key}", client="198.51.100.7")
    assert who.identity_id == good.identity_id


def test_per_key_rate_limit(limited: Api) -> None:
    headers = limited.headers()
    statuses = [limited.client.get("/v0/vault", headers=headers).status_code for _ in range(8)]
    assert statuses[:4] == [200, 200, 200, 200]  # burst = 2 x rate
    assert 429 in statuses[4:]
    assert limited.client.get("/v0/vault", headers=limited.headers()).status_code == 200


def test_rotate_key_with_grace_then_without(clocked_api: Api, clock: ManualClock) -> None:
    api = clocked_api
    first = api.new_identity()
    rotated = api.call(
        api.vault.identities.rotate_key, first.name, scopes=["vault:read"], grace_seconds=0.5
    )
    assert rotated.api_key != first.api_key
    assert api.client.get("/v0/vault", headers=auth(first.api_key)).status_code == 200
    assert api.client.get("/v0/vault", headers=auth(rotated.api_key)).status_code == 200
    clock.advance(0.6)
    assert_error(
        api.client.get("/v0/vault", headers=auth(first.api_key)),
        401,
        "unauthorized",
        "invalid_api_key",
    )
    again = api.call(api.vault.identities.rotate_key, first.name, scopes=["vault:read"])
    assert_error(
        api.client.get("/v0/vault", headers=auth(rotated.api_key)),
        401,
        "unauthorized",
        "invalid_api_key",
    )
    assert api.client.get("/v0/vault", headers=auth(again.api_key)).status_code == 200
