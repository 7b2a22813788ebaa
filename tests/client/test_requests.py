"""The SDK's side of access requests, sync and async alike, against the app
in-process: an agent asks, a person fulfils (or declines) with
``requests.fulfill``, the agent's poll finds the outcome and reads the credential."""

from __future__ import annotations

import httpx
import pytest

from loomal import (
    AsyncLoomal,
    ConflictError,
    Loomal,
    PermissionDeniedError,
    PreconditionFailedError,
    RateLimitError,
)
from tests.conftest import Api

BASE = "http://testserver.local"


def keys(api: Api) -> tuple[str, str]:
    """An agent's key (vault:use) and a person's (read and write) of one identity."""
    owner = api.new_identity()
    agent = api.call(api.vault.identities.add_key, owner.name, scopes=["vault:use"])
    return agent.api_key, owner.api_key


def test_sync_sdk_asks_a_person_fulfils_the_agent_finds_it(api: Api) -> None:
    agent_key, person_key = keys(api)
    with (
        Loomal(agent_key, base_url=BASE, http_client=api.client) as agent,
        Loomal(person_key, base_url=BASE, http_client=api.client) as person,
    ):
        created = agent.requests.create(
            "resend", "API_KEY", "To send the weekly report", allowed_hosts=["api.resend.com"]
        )
        assert created.status == "pending"
        assert created.url == f"{BASE}/requests/{created.request_id}"
        assert agent.requests.get(created.request_id).status == "pending"
        with pytest.raises(PermissionDeniedError):
            agent.requests.fulfill(created.request_id, {"key": "re_123"})
        listed = person.requests.list(status="pending")
        assert [r.request_id for r in listed.requests] == [created.request_id]
        done = person.requests.fulfill(created.request_id, {"key": "re_123"})
        assert done.status == "fulfilled" and done.answered_by == person_key[:13]
        assert agent.requests.get(created.request_id).status == "fulfilled"
        (stored,) = agent.vault.list().credentials
        assert (stored.name, stored.metadata["allowedHosts"]) == ("resend", ["api.resend.com"])
        assert person.vault.get("resend").data["key"] == "re_123"
        with pytest.raises(ConflictError) as twice:
            person.requests.decline(created.request_id)
        assert twice.value.code == "request_answered"

        again = agent.requests.create("resend", "API_KEY", "The key was revoked")
        with pytest.raises(PreconditionFailedError):
            person.requests.fulfill(again.request_id, {"key": "re_456"})
        person.requests.fulfill(again.request_id, {"key": "re_456"}, replace_version=1)
        assert person.vault.get("resend").data["key"] == "re_456"


def test_async_sdk_alike(api: Api) -> None:
    agent_key, person_key = keys(api)

    async def run() -> None:
        transport = httpx.ASGITransport(api.app)  # type: ignore[arg-type]
        async with (
            httpx.AsyncClient(transport=transport, base_url=BASE) as http,
            AsyncLoomal(agent_key, base_url=BASE, http_client=http) as agent,
            AsyncLoomal(person_key, base_url=BASE, http_client=http) as person,
        ):
            created = await agent.requests.create("db", "DATABASE", "Nightly export")
            declined = await person.requests.decline(created.request_id)
            assert declined.status == "declined"
            assert (await agent.requests.get(created.request_id)).status == "declined"
            for i in range(20):
                await agent.requests.create(f"db-{i}", "DATABASE", "more")
            with pytest.raises(RateLimitError) as limited:
                await agent.requests.create("db-20", "DATABASE", "one too many")
            assert limited.value.reason == "too_many_pending_requests"
            assert (await person.requests.list(limit=5)).count == 5

    api.client.blocking_portal.call(run)
