"""What a refreshable OAUTH credential holds, checked when it is stored (clear 422s),
the provider presets, and the token endpoint's egress checks."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from loomal.config import ServerSettings
from loomal.errors import BadRequestError, ValidationError
from loomal.oauth.presets import PRESETS, client_config
from loomal.runtime import open_vault
from tests.oauth.conftest import TTL, OAuthHarness, oauth_body


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda b: b["metadata"]["oauth"].pop("clientId"), "metadata.oauth.clientId"),
        (lambda b: b["metadata"]["oauth"].pop("tokenUrl"), "metadata.oauth.tokenUrl"),
        (lambda b: b["metadata"]["oauth"].update(tokenUrl="ftp://x/t"), "metadata.oauth.tokenUrl"),
        (lambda b: b["metadata"]["oauth"].update(authMethod="jwt"), "metadata.oauth.authMethod"),
        (lambda b: b["metadata"]["oauth"].update(scopes=[1]), "metadata.oauth.scopes"),
        (lambda b: b["data"].pop("clientSecret"), "data.clientSecret"),
        (lambda b: b["metadata"].update(oauth="google"), "metadata.oauth"),
        (lambda b: b["metadata"].update(oauthStatus="fine"), "metadata.oauthStatus"),
    ],
)
async def test_incomplete_settings_are_refused_naming_the_field(
    oauth: OAuthHarness, change: Any, named: str
) -> None:
    who = await oauth.caller()
    body = oauth.credential()
    change(body)
    with pytest.raises(ValidationError) as refused:
        await oauth.store(who, "gmail", body)
    assert named in refused.value.message
    assert body["data"].get("clientSecret", "-") not in refused.value.message


async def test_a_public_client_needs_no_secret(oauth: OAuthHarness) -> None:
    who = await oauth.caller()
    body = oauth.credential(authMethod="none")
    body["data"].pop("clientSecret")
    await oauth.store(who, "gmail", body)


def test_presets_name_the_documented_endpoints() -> None:
    assert set(PRESETS) == {"google", "microsoft", "github", "slack", "salesforce", "hubspot"}
    metadata = {"provider": "google", "oauth": {"clientId": "c", "scopes": "a b"}}
    config = client_config(metadata, {"clientSecret": "s"})
    assert config is not None
    assert config.token_url == "https://oauth2.googleapis.com/token"
    assert config.scopes == ("a", "b") and "***" in repr(config) and "s'" not in repr(config)
    assert all(p.token_url.startswith("https://") for p in PRESETS.values())


async def test_a_loopback_token_endpoint_is_refused_without_an_allowance(
    oauth: OAuthHarness, settings: ServerSettings
) -> None:
    strict = await open_vault(
        dataclasses.replace(settings, fetch_allow_private=()), clock=oauth.clock
    )
    try:
        who = await oauth.caller(strict)
        access, refresh = oauth.provider.state.issue_family()
        body = oauth_body(
            access, refresh, oauth.provider.token_url.replace("http:", "https:"), oauth.clock.now
        )
        await strict.service.store_credential(who, "gmail", _request(body))
        oauth.clock.advance(TTL)
        with pytest.raises(BadRequestError) as refused:
            await strict.service.get_credential(who, "gmail")
        assert refused.value.reason == "forbidden_address"
        assert oauth.provider.state.refreshes == 0
    finally:
        await strict.close()


def _request(body: dict[str, Any]) -> Any:
    from loomal.core.models import StoreRequest

    return StoreRequest(type=body["type"], data=body["data"], metadata=body["metadata"])
