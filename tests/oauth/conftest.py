"""Vaults whose OAuth refreshes go to the loopback provider (``provider.py``), on
each store, with one injected clock shared by the vault and the provider."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from loomal.config import ServerSettings
from loomal.core.identity import Principal
from loomal.core.models import StoreRequest
from loomal.runtime import Vault, open_vault
from tests.oauth.provider import CLIENT_ID, CLIENT_SECRET, Provider, running_provider

START = 1_800_000_000.0
TTL = 600


class Clock:
    """The time of the vaults and the provider; tests move it."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class OAuthHarness:
    vault: Vault
    provider: Provider
    clock: Clock
    settings: ServerSettings

    async def caller(self, vault: Vault | None = None) -> Principal:
        vault = vault or self.vault
        created = await vault.identities.create_identity(
            "agent-" + secrets.token_hex(4), scopes=["vault:read", "vault:write"]
        )
        return await vault.identities.authenticate(f"Bearer {created.api_key}")

    def credential(self, **oauth: Any) -> dict[str, Any]:
        """A refreshable OAUTH credential holding a fresh token family of the provider."""
        access, refresh = self.provider.state.issue_family()
        expires = self.clock.now + TTL
        return oauth_body(access, refresh, self.provider.token_url, expires, **oauth)

    async def store(self, who: Principal, name: str, body: dict[str, Any]) -> None:
        request = StoreRequest(type=body["type"], data=body["data"], metadata=body.get("metadata"))
        await self.vault.service.store_credential(who, name, request)

    async def open_another(self) -> Vault:
        """A second vault on the same store: another worker, or another server."""
        return await open_vault(self.settings, clock=self.clock)


def oauth_body(
    access: str, refresh: str, token_url: str, expires: float, **oauth: Any
) -> dict[str, Any]:
    from loomal.core.timestamps import from_micros, to_micros

    return {
        "type": "OAUTH",
        "data": {"accessToken": access, "refreshToken": refresh, "clientSecret": CLIENT_SECRET},
        "metadata": {
            "expiresAt": f"{from_micros(to_micros(expires)):%Y-%m-%dT%H:%M:%SZ}",
            "oauth": {"tokenUrl": token_url, "clientId": CLIENT_ID, **oauth},
        },
    }


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def provider(clock: Clock) -> Iterator[Provider]:
    with running_provider(clock, ttl=TTL) as found:
        yield found


@pytest.fixture
def allowed(settings: ServerSettings) -> ServerSettings:
    """The loopback provider allowed, as an operator would with --fetch-allow-private."""
    return dataclasses.replace(settings, fetch_allow_private=("127.0.0.1",))


@pytest.fixture
async def oauth(
    allowed: ServerSettings, provider: Provider, clock: Clock
) -> AsyncIterator[OAuthHarness]:
    vault = await open_vault(allowed, clock=clock)
    try:
        yield OAuthHarness(vault, provider, clock, allowed)
    finally:
        await vault.close()
