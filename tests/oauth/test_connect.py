"""The connect flow: PKCE S256 against the strict provider, a single-use state
bound to the identity and credential, 10 minutes to use it, tokens stored by the
callback; a replayed, unknown or late state is refused."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from litestar.testing import TestClient

from loomal.config import ServerSettings
from loomal.core.models import ConnectRequest
from loomal.errors import BadRequestError, ValidationError
from loomal.server.app import create_app
from tests.conftest import Api
from tests.oauth.conftest import OAuthHarness
from tests.oauth.provider import CLIENT_ID, CLIENT_SECRET, Provider, running_provider


def _settings(provider: Provider) -> ConnectRequest:
    return ConnectRequest(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        token_url=provider.token_url,
        authorize_url=provider.authorize_url,
        scopes=["read", "write"],
    )


def _approve(authorize_url: str) -> dict[str, str]:
    """The person says yes at the provider: the callback's query."""
    back = httpx.get(authorize_url, follow_redirects=False).headers["location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}


async def test_connect_stores_live_tokens(oauth: OAuthHarness) -> None:
    who = await oauth.caller()
    started = await oauth.vault.oauth_connect.start(who, "gmail", _settings(oauth.provider))
    query = parse_qs(urlsplit(started.authorize_url).query)
    assert query["code_challenge_method"] == ["S256"] and query["scope"] == ["read write"]
    assert started.redirect_uri.endswith("/v0/oauth/callback")
    back = _approve(started.authorize_url)
    assert await oauth.vault.oauth_connect.finish(back["state"], back["code"]) == "gmail"
    got = await oauth.vault.service.get_credential(who, "gmail")
    assert oauth.provider.state.is_live(got.data["accessToken"])
    assert oauth.provider.state.code_exchanges == 1
    # and it refreshes on its own afterwards, with the secret the flow stored
    oauth.clock.advance(oauth.provider.state.ttl + 1)
    again = await oauth.vault.service.get_credential(who, "gmail")
    assert oauth.provider.state.is_live(again.data["accessToken"])
    with pytest.raises(BadRequestError) as replayed:
        await oauth.vault.oauth_connect.finish(back["state"], back["code"])
    assert replayed.value.reason == "bad_state"


async def test_state_expires_after_ten_minutes(oauth: OAuthHarness) -> None:
    who = await oauth.caller()
    started = await oauth.vault.oauth_connect.start(who, "gmail", _settings(oauth.provider))
    back = _approve(started.authorize_url)
    oauth.clock.advance(601)
    with pytest.raises(BadRequestError) as late:
        await oauth.vault.oauth_connect.finish(back["state"], back["code"])
    assert late.value.reason == "state_expired"
    assert oauth.provider.state.code_exchanges == 0


async def test_foreign_state_and_declined(oauth: OAuthHarness) -> None:
    who = await oauth.caller()
    with pytest.raises(BadRequestError) as foreign:
        await oauth.vault.oauth_connect.finish("made-up-state", "code")
    assert foreign.value.reason == "bad_state"
    started = await oauth.vault.oauth_connect.start(who, "gmail", _settings(oauth.provider))
    state = parse_qs(urlsplit(started.authorize_url).query)["state"][0]
    with pytest.raises(BadRequestError) as declined:
        await oauth.vault.oauth_connect.finish(state, None, "access_denied")
    assert declined.value.reason == "access_denied"


async def test_connect_needs_a_client_and_an_authorize_url(oauth: OAuthHarness) -> None:
    who = await oauth.caller()
    with pytest.raises(ValidationError):
        await oauth.vault.oauth_connect.start(who, "gmail", ConnectRequest())
    with pytest.raises(ValidationError) as refused:
        await oauth.vault.oauth_connect.start(
            who,
            "gmail",
            ConnectRequest(
                client_id=CLIENT_ID, client_secret="s", token_url=oauth.provider.token_url
            ),
        )
    assert "authorizeUrl" in refused.value.message
    google = await oauth.vault.oauth_connect.start(
        who, "gmail", ConnectRequest(provider="google", client_id="c", client_secret="s")
    )
    assert google.authorize_url.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    assert "access_type=offline" in google.authorize_url


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


def test_connect_over_http(api: Api, provider: Provider) -> None:
    headers = api.headers()
    body = {
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
        "tokenUrl": provider.token_url,
        "authorizeUrl": provider.authorize_url,
    }
    started = api.client.post("/v0/vault/gmail/oauth/connect", json=body, headers=headers)
    assert started.status_code == 200, started.text
    assert CLIENT_SECRET not in started.text
    back = _approve(started.json()["authorizeUrl"])
    page = api.client.get("/v0/oauth/callback", params=back)
    assert page.status_code == 200 and "gmail" in page.text
    assert page.headers["content-type"].startswith("text/html")
    got = api.client.get("/v0/vault/gmail", headers=headers).json()
    assert provider.state.is_live(got["data"]["accessToken"])
    replay = api.client.get("/v0/oauth/callback", params=back)
    assert replay.status_code == 400 and replay.json()["reason"] == "bad_state"
