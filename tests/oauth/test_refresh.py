"""Refresh for the agent: every path that hands out or uses an OAUTH access token
gets a live one, on both stores, against the strict loopback provider."""

from __future__ import annotations

import logging

import pytest

from loomal.core.models import FetchRequest
from loomal.errors import ConflictError, ServiceUnavailableError
from tests.oauth.conftest import TTL, OAuthHarness
from tests.oauth.provider import CLIENT_SECRET
from tests.upstream import running_upstream


async def test_a_live_token_is_handed_out_as_stored(oauth: OAuthHarness) -> None:
    who = await oauth.caller()
    body = oauth.credential()
    await oauth.store(who, "gmail", body)
    got = await oauth.vault.service.get_credential(who, "gmail")
    assert got.data["accessToken"] == body["data"]["accessToken"]
    assert oauth.provider.state.refreshes == 0
    # the vault's own fields never reach an agent: it cannot refresh (and race) alone
    assert "clientSecret" not in got.data and "refreshToken" not in got.data


async def test_an_expired_token_is_refreshed_before_get(oauth: OAuthHarness) -> None:
    who = await oauth.caller()
    body = oauth.credential()
    await oauth.store(who, "gmail", body)
    oauth.clock.advance(TTL + 1)
    got = await oauth.vault.service.get_credential(who, "gmail")
    assert got.data["accessToken"] != body["data"]["accessToken"]
    assert oauth.provider.state.is_live(got.data["accessToken"])
    assert oauth.provider.state.refreshes == 1
    assert got.version == 2 and got.metadata["expiresAt"] > body["metadata"]["expiresAt"]
    # the rotated refresh token was saved with it: the next refresh works
    oauth.clock.advance(TTL + 1)
    again = await oauth.vault.service.get_credential(who, "gmail")
    assert oauth.provider.state.is_live(again.data["accessToken"])
    assert oauth.provider.state.refreshes == 2 and oauth.provider.state.reuse_detected == 0


async def test_a_token_expiring_within_60_s_is_refreshed(oauth: OAuthHarness) -> None:
    who = await oauth.caller()
    await oauth.store(who, "gmail", oauth.credential())
    oauth.clock.advance(TTL - 61)
    await oauth.vault.service.get_credential(who, "gmail")
    assert oauth.provider.state.refreshes == 0
    oauth.clock.advance(2)
    await oauth.vault.service.get_credential(who, "gmail")
    assert oauth.provider.state.refreshes == 1


async def test_forced_refresh_and_status(oauth: OAuthHarness) -> None:
    who = await oauth.caller()
    await oauth.store(who, "gmail", oauth.credential())
    state = await oauth.vault.service.oauth_refresh(who, "gmail")
    assert state.oauth_status == "live" and state.version == 2
    assert oauth.provider.state.refreshes == 1
    status = await oauth.vault.service.oauth_status(who, "gmail")
    assert status.expires_at == state.expires_at and status.refreshable


async def test_brokered_fetch_uses_the_refreshed_token(oauth: OAuthHarness) -> None:
    who = await oauth.caller()
    body = oauth.credential()
    body["metadata"]["allowedHosts"] = ["127.0.0.1"]
    await oauth.store(who, "gmail", body)
    oauth.clock.advance(TTL + 1)
    with running_upstream() as upstream:
        await oauth.vault.broker.fetch(who, "gmail", FetchRequest(url=f"{upstream.base_url}/echo"))
        sent = upstream.seen[-1].headers["authorization"]
    token = sent.removeprefix("Bearer ")
    assert token != body["data"]["accessToken"] and oauth.provider.state.is_live(token)


async def test_invalid_grant_marks_needs_reauth(
    oauth: OAuthHarness, caplog: pytest.LogCaptureFixture
) -> None:
    who = await oauth.caller()
    body = oauth.credential()
    await oauth.store(who, "gmail", body)
    oauth.provider.state.revoked_families.add(
        oauth.provider.state.refresh_family[body["data"]["refreshToken"]]
    )
    oauth.clock.advance(TTL + 1)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConflictError) as refused:
        await oauth.vault.service.get_credential(who, "gmail")
    assert refused.value.code == "needs_reauth" and "connect" in refused.value.message
    listed = await oauth.vault.service.list_credentials(who)
    assert listed.credentials[0].metadata["oauthStatus"] == "needs_reauth"
    status = await oauth.vault.service.oauth_status(who, "gmail")
    assert status.oauth_status == "needs_reauth"
    # asked again, the provider is not asked again (it already said no)
    with pytest.raises(ConflictError):
        await oauth.vault.service.get_credential(who, "gmail")
    for secret in (body["data"]["refreshToken"], CLIENT_SECRET):
        assert secret not in caplog.text and secret not in refused.value.message


async def test_provider_down_serves_the_still_valid_token(oauth: OAuthHarness) -> None:
    who = await oauth.caller()
    body = oauth.credential()
    await oauth.store(who, "gmail", body)
    oauth.provider.state.failing = 503
    oauth.clock.advance(TTL - 30)  # due (within 60 s), still valid
    got = await oauth.vault.service.get_credential(who, "gmail")
    assert got.data["accessToken"] == body["data"]["accessToken"]


async def test_provider_down_and_token_expired_is_503_with_retry_after(
    oauth: OAuthHarness, caplog: pytest.LogCaptureFixture
) -> None:
    who = await oauth.caller()
    body = oauth.credential()
    await oauth.store(who, "gmail", body)
    oauth.provider.state.failing = 500  # its body echoes the refresh token
    oauth.clock.advance(TTL + 1)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ServiceUnavailableError) as unavailable:
        await oauth.vault.service.get_credential(who, "gmail")
    assert unavailable.value.retry_after >= 1
    assert body["data"]["refreshToken"] not in caplog.text
    assert body["data"]["refreshToken"] not in unavailable.value.message
    # back up after the retry time: the next get refreshes
    oauth.provider.state.failing = None
    oauth.clock.advance(unavailable.value.retry_after)
    got = await oauth.vault.service.get_credential(who, "gmail")
    assert oauth.provider.state.is_live(got.data["accessToken"])


async def test_provider_timeout_is_503(oauth: OAuthHarness) -> None:
    who = await oauth.caller()
    await oauth.store(who, "gmail", oauth.credential())
    oauth.provider.state.hold()
    oauth.vault.service.live_tokens._client.timeout = 0  # type: ignore[union-attr]
    oauth.clock.advance(TTL + 1)
    with pytest.raises(ServiceUnavailableError):
        await oauth.vault.service.get_credential(who, "gmail")
