"""A vault on each store whose broker sends to a fake upstream (no HTTP server,
no socket), with helpers to make callers and credentials."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from loomal.config import ServerSettings
from loomal.core.models import AuditEntry, FetchRequest, FetchResponse, StoreRequest
from loomal.core.principals import Principal
from loomal.runtime import RunningVault, open_vault
from tests.broker.fake_upstream import FakeUpstream

PUBLIC = "93.184.216.34"
"""What the fake DNS answers for ``api.example.com`` (nothing is ever sent to it)."""


@dataclass
class Harness:
    vault: RunningVault
    upstream: FakeUpstream

    async def caller(self, scopes: tuple[str, ...] = ("vault:read", "vault:write")) -> Principal:
        created = await self.vault.identities.create_identity(
            "agent-" + secrets.token_hex(4), scopes=list(scopes)
        )
        return await self.vault.identities.authenticate(f"Bearer {created.api_key}")

    async def store(self, who: Principal, name: str, body: dict[str, Any]) -> None:
        request = StoreRequest(type=body["type"], data=body["data"], metadata=body.get("metadata"))
        await self.vault.service.store_credential(who, name, request)

    async def fetch(self, who: Principal, name: str, url: str, **fields: Any) -> FetchResponse:
        return await self.vault.broker.fetch(who, name, FetchRequest(url=url, **fields))

    async def events(self, who: Principal) -> list[AuditEntry]:
        return (await self.vault.service.audit_log(who)).events


def api_key(secret: str, *hosts: str, **metadata: Any) -> dict[str, Any]:
    return {
        "type": "API_KEY",
        "data": {"key": secret},
        "metadata": {"allowedHosts": list(hosts or ["api.example.com"]), **metadata},
    }


@pytest.fixture
async def harness(settings: ServerSettings) -> AsyncIterator[Harness]:
    upstream = FakeUpstream(dns={"api.example.com": [PUBLIC]})
    vault = await open_vault(settings, transport=upstream)
    try:
        yield Harness(vault, upstream)
    finally:
        await vault.close()
