"""The OAuth connect flow in a real browser (chromium) against a real ``loomal
serve`` and the loopback provider: Connect on an OAUTH credential, approve at the
provider, back on the server's callback, the tokens stored; a needs-reauth
credential says so."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import tests.conftest
from tests.conftest import ServerProcess, auth, start_server
from tests.console.browsing import Watched, sign_in
from tests.oauth.conftest import oauth_body
from tests.oauth.provider import Provider, running_provider

pytestmark = pytest.mark.slow


@pytest.fixture
def provider() -> Iterator[Provider]:
    with running_provider(time.time, ttl=3600) as found:
        yield found


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerProcess]:
    """A server whose --public-url is its own address: the provider sends the
    browser back to it."""
    port = tests.conftest.free_port()
    monkeypatch.setattr(tests.conftest, "free_port", lambda: port)
    args = ["--data-dir", str(tmp_path / "data"), "--fetch-allow-private", "127.0.0.1"]
    proc = start_server(*args, "--public-url", f"http://127.0.0.1:{port}", cwd=tmp_path)
    yield proc
    proc.stop()


def test_connect_in_the_browser(browser: Any, server: ServerProcess, provider: Provider) -> None:
    assert server.api_key is not None
    api = httpx.Client(base_url=server.base_url, headers=auth(server.api_key))
    access, refresh = provider.state.issue_family()
    body = oauth_body(access, refresh, provider.token_url, time.time() + 3000)
    body["metadata"]["oauth"]["authorizeUrl"] = provider.authorize_url
    provider.state.revoked_families.add(provider.state.refresh_family[refresh])
    assert api.put("/v0/vault/gmail", json=body).status_code == 200
    forced = api.post("/v0/vault/gmail/oauth/refresh")
    assert forced.json()["error"] == "needs_reauth"

    watched = Watched(browser, server.base_url)
    page = watched.page
    sign_in(page, server.api_key)
    page.goto("/credentials/gmail")
    assert "Needs a person" in page.locator("#oauth-state").inner_text()
    page.get_by_role("button", name="Connect").click()
    page.get_by_role("link", name="Continue to the provider").click()
    # the provider approves at once and sends the browser to the server's callback
    page.get_by_role("heading", name="Connected").wait_for()
    callback = page.url
    assert callback.startswith(f"{server.base_url}/v0/oauth/callback?")
    got = api.get("/v0/vault/gmail").json()
    assert provider.state.is_live(got["data"]["accessToken"])
    assert provider.state.code_exchanges == 1
    assert "oauthStatus" not in got["metadata"]
    page.goto("/credentials/gmail")
    assert "refreshes its access token" in page.locator("#oauth-state").inner_text()
    replay = httpx.get(callback)  # the same callback again (back button, a replay)
    assert replay.status_code == 400 and replay.json()["reason"] == "bad_state"
    assert watched.csp_violations() == []
    watched.context.close()
    api.close()
