"""The SDK's side of approvals, sync and async alike, against the app in-process
and a loopback upstream: a held fetch raises ApprovalPendingError, a person's key
approves with ``approvals.approve``, the agent repeats with ``approval_id``."""

from __future__ import annotations

import httpx
import pytest

from loomal import ApprovalPendingError, AsyncLoomal, Loomal, PermissionDeniedError
from tests.conftest import Api
from tests.upstream import Upstream

RULES = [
    {"methods": ["GET"], "paths": ["/echo"]},
    {"methods": ["DELETE"], "paths": ["/echo/*"], "approval": {"windowSeconds": 0}},
]


@pytest.fixture
def api(loopback_api: Api) -> Api:
    return loopback_api


def keys(api: Api, upstream: Upstream) -> tuple[str, str]:
    owner = api.new_identity()
    agent = api.call(api.vault.identities.add_key, owner.name, scopes=["vault:use"])
    person = api.call(api.vault.identities.add_key, owner.name, scopes=["vault:approve"])
    with Loomal(owner.api_key, base_url="http://testserver.local", http_client=api.client) as sdk:
        sdk.vault.store(
            "crm",
            "API_KEY",
            {"key": "sk_live_" + "Zz8" * 10},
            {"allowedHosts": ["127.0.0.1"], "rules": RULES},
        )
    return agent.api_key, person.api_key


def test_sync_sdk_waits_for_a_person_then_repeats(api: Api, upstream: Upstream) -> None:
    agent_key, person_key = keys(api, upstream)
    url = f"{upstream.base_url}/echo/42"
    base = "http://testserver.local"
    with (
        Loomal(agent_key, base_url=base, http_client=api.client) as agent,
        Loomal(person_key, base_url=base, http_client=api.client) as person,
    ):
        with pytest.raises(ApprovalPendingError) as held:
            agent.vault.fetch("crm", method="DELETE", url=url)
        approval_id = held.value.approval_id
        assert held.value.status == 202 and approval_id in held.value.approval_url
        assert agent.approvals.get(approval_id).status == "pending"
        with pytest.raises(PermissionDeniedError):
            agent.approvals.approve(approval_id)
        pending = person.approvals.list(status="pending")
        assert [a.approval_id for a in pending.approvals] == [approval_id]
        assert person.approvals.approve(approval_id).status == "approved"
        answer = agent.vault.fetch("crm", method="DELETE", url=url, approval_id=approval_id)
        assert answer.status == 404  # the upstream's own answer: it was sent
        assert agent.approvals.get(approval_id).status == "used"
        with pytest.raises(ApprovalPendingError) as again:
            agent.vault.fetch("crm", method="DELETE", url=url)
        assert person.approvals.deny(again.value.approval_id).status == "denied"
    assert [s.method for s in upstream.seen] == ["DELETE"]


def test_async_sdk_alike(api: Api, upstream: Upstream) -> None:
    agent_key, person_key = keys(api, upstream)
    url = f"{upstream.base_url}/echo/7"

    async def run() -> None:
        transport = httpx.ASGITransport(api.app)  # type: ignore[arg-type]
        base = "http://testserver.local"
        async with (
            httpx.AsyncClient(transport=transport, base_url=base) as http,
            AsyncLoomal(agent_key, base_url=base, http_client=http) as agent,
            AsyncLoomal(person_key, base_url=base, http_client=http) as person,
        ):
            with pytest.raises(ApprovalPendingError) as held:
                await agent.vault.fetch("crm", method="DELETE", url=url)
            approval_id = held.value.approval_id
            approved = await person.approvals.approve(approval_id, window_seconds=0)
            assert approved.status == "approved" and approved.window_until is None
            await agent.vault.fetch("crm", method="DELETE", url=url, approval_id=approval_id)
            assert (await agent.approvals.get(approval_id)).status == "used"

    api.client.blocking_portal.call(run)
    assert [s.method for s in upstream.seen] == ["DELETE"]
