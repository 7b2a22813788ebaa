"""The test provider itself behaves as the strict providers do (the OAuth tests
lean on it): PKCE is checked, a reused refresh token revokes its whole family."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.oauth.provider import CLIENT_ID, CLIENT_SECRET, Provider, running_provider, s256


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def provider() -> Iterator[tuple[Provider, Clock]]:
    clock = Clock()
    with running_provider(clock, ttl=60) as found:
        yield found, clock


def _refresh(provider: Provider, token: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": token}
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    return httpx.post(provider.token_url, data=form, headers={"Authorization": f"Basic {basic}"})


def test_rotation_and_reuse_revokes_the_family(provider: tuple[Provider, Clock]) -> None:
    p, clock = provider
    access, refresh = p.state.issue_family()
    assert p.state.is_live(access)
    clock.now += 61
    assert not p.state.is_live(access)
    first = _refresh(p, refresh).json()
    assert p.state.is_live(first["access_token"]) and first["refresh_token"] != refresh
    again = _refresh(p, refresh)  # the used one comes back
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert not p.state.is_live(first["access_token"])
    assert _refresh(p, first["refresh_token"]).status_code == 400
    assert p.state.reuse_detected == 1 and p.state.refreshes == 1


def test_code_exchange_checks_pkce(provider: tuple[Provider, Clock]) -> None:
    p, _ = provider
    verifier = "v" * 50
    query = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": "http://127.0.0.1:1/cb",
        "code_challenge": s256(verifier),
        "code_challenge_method": "S256",
        "state": "st",
    }
    back = httpx.get(p.authorize_url, params=query).headers["location"]
    code = parse_qs(urlsplit(back).query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": "http://127.0.0.1:1/cb",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "code_verifier": "w" * 50,
    }
    assert httpx.post(p.token_url, data=form).status_code == 400
    assert httpx.post(p.token_url, data={**form, "code_verifier": verifier}).status_code == 400
    assert p.state.code_exchanges == 0  # a code is single-use, even after a failed check


def test_failing_switch(provider: tuple[Provider, Clock]) -> None:
    p, _ = provider
    p.state.failing = 503
    assert _refresh(p, "rt-x").status_code == 503
