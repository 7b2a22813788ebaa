"""The OAuth behaviour over HTTP, as an agent sees it: GET hands out a live token
(on the edge's fast path), POST .../oauth/refresh forces one, failures answer the
SPEC's error shape (409 needs_reauth, 503 with Retry-After)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from loomal.config import ServerSettings
from loomal.server.app import create_app
from tests.conftest import Api
from tests.oauth.conftest import oauth_body
from tests.oauth.provider import Provider, running_provider


@pytest.fixture
def provider() -> Iterator[Provider]:
    with running_provider(time.time, ttl=3600) as found:
        yield found


@pytest.fixture
def api(settings: ServerSettings) -> Iterator[Api]:
    allowed = dataclasses.replace(settings, fetch_allow_private=("127.0.0.1",))
    app = create_app(settings=allowed)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client=client, settings=allowed, app=app)


def _expired(provider: Provider) -> dict[str, Any]:
    access, refresh = provider.state.issue_family()
    return oauth_body(access, refresh, provider.token_url, time.time() - 10)


def test_get_hands_out_a_refreshed_token(api: Api, provider: Provider) -> None:
    headers = api.headers()
    body = _expired(provider)
    assert api.client.put("/v0/vault/gmail", json=body, headers=headers).status_code == 200
    got = api.client.get("/v0/vault/gmail", headers=headers)
    assert got.status_code == 200, got.text
    data = got.json()["data"]
    assert (
        provider.state.is_live(data["accessToken"])
        and data["accessToken"] != body["data"]["accessToken"]
    )
    assert set(data) == {"accessToken"}
    assert got.headers["etag"] == '"2"'


def test_forced_refresh_answers_the_state_never_a_token(api: Api, provider: Provider) -> None:
    headers = api.headers()
    access, refresh = provider.state.issue_family()
    body = oauth_body(access, refresh, provider.token_url, time.time() + 3000)
    api.client.put("/v0/vault/gmail", json=body, headers=headers)
    answer = api.client.post("/v0/vault/gmail/oauth/refresh", headers=api.headers(("vault:use",)))
    assert answer.status_code == 404  # another identity: not its credential
    answer = api.client.post("/v0/vault/gmail/oauth/refresh", headers=headers)
    assert answer.status_code == 200, answer.text
    state = answer.json()
    assert state["oauthStatus"] == "live" and state["version"] == 2 and state["refreshable"]
    assert "at-" not in answer.text and provider.state.refreshes == 1


def test_not_refreshable_is_a_clear_400(api: Api) -> None:
    headers = api.headers()
    api.client.put(
        "/v0/vault/plain", json={"type": "OAUTH", "data": {"accessToken": "x"}}, headers=headers
    )
    answer = api.client.post("/v0/vault/plain/oauth/refresh", headers=headers)
    assert answer.status_code == 400 and answer.json()["reason"] == "not_refreshable"


def test_needs_reauth_and_unavailable(api: Api, provider: Provider) -> None:
    headers = api.headers()
    body = _expired(provider)
    api.client.put("/v0/vault/gmail", json=body, headers=headers)
    provider.state.failing = 502
    down = api.client.get("/v0/vault/gmail", headers=headers)
    assert down.status_code == 503 and down.json()["error"] == "unavailable"
    assert int(down.headers["retry-after"]) >= 1
    assert body["data"]["refreshToken"] not in down.text
    provider.state.failing = None
    family = provider.state.refresh_family[body["data"]["refreshToken"]]
    provider.state.revoked_families.add(family)
    forced = api.client.post("/v0/vault/gmail/oauth/refresh", headers=headers)
    assert forced.status_code == 409 and forced.json()["error"] == "needs_reauth"
    listed = api.client.get("/v0/vault", headers=headers).json()["credentials"]
    assert listed[0]["metadata"]["oauthStatus"] == "needs_reauth"


def test_incomplete_oauth_settings_are_a_422(api: Api, provider: Provider) -> None:
    body = _expired(provider)
    body["metadata"]["oauth"]["authMethod"] = "magic"
    answer = api.client.put("/v0/vault/gmail", json=body, headers=api.headers())
    assert answer.status_code == 422 and "authMethod" in answer.json()["message"]
