"""Request rules and approvals over HTTP, against a real upstream on 127.0.0.1:
403 request_not_allowed, 429 budget_exhausted with Retry-After, the 202 of a held
request, /v0/approvals for the person, and the agent's repeat (fetch body's
approvalId; the proxy's Loomal-Approval header, never forwarded)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, auth
from tests.server.test_api import assert_error
from tests.upstream import Upstream

KEY = "sk_live_" + "Ap9-qq" * 6
RULES = [
    {"methods": ["GET"], "paths": ["/echo", "/echo/**"]},
    {"methods": ["POST"], "paths": ["/echo/mail"], "budget": {"max": 2, "perSeconds": 86400}},
    {"methods": ["DELETE"], "paths": ["/echo/*"], "approval": {"windowSeconds": 0}},
]


@pytest.fixture
def api(loopback_api: Api) -> Api:
    return loopback_api


def keys(api: Api, upstream: Upstream) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Headers of the agent (vault:use), a person (vault:approve) and the owner."""
    owner = api.new_identity()
    agent = api.call(api.vault.identities.add_key, owner.name, scopes=["vault:use"])
    person = api.call(api.vault.identities.add_key, owner.name, scopes=["vault:approve"])
    body = {
        "type": "API_KEY",
        "data": {"key": KEY},
        "metadata": {"allowedHosts": ["127.0.0.1"], "baseUrl": upstream.base_url, "rules": RULES},
    }
    stored = api.client.put("/v0/vault/crm", json=body, headers=auth(owner.api_key))
    assert stored.status_code == 200, stored.text
    return auth(agent.api_key), auth(person.api_key), auth(owner.api_key)


def fetch(api: Api, h: dict[str, str], upstream: Upstream, path: str, **fields: Any) -> Any:
    body = {"url": f"{upstream.base_url}{path}", **fields}
    return api.client.post("/v0/vault/crm/fetch", json=body, headers=h)


def test_no_rule_allowing_is_403_and_nothing_is_sent(api: Api, upstream: Upstream) -> None:
    agent, _, _ = keys(api, upstream)
    assert fetch(api, agent, upstream, "/echo/contacts").status_code == 200
    refused = fetch(api, agent, upstream, "/echo/contacts", method="PUT")
    assert "PUT" in assert_error(refused, 403, "request_not_allowed", "method_not_allowed")
    refused = fetch(api, agent, upstream, "/echo/a%2F..%2F..%2Fadmin")
    assert refused.status_code in (400, 403)
    assert len(upstream.seen) == 1


def test_a_spent_budget_is_429_with_retry_after(api: Api, upstream: Upstream) -> None:
    agent, _, _ = keys(api, upstream)
    for _ in range(2):
        assert fetch(api, agent, upstream, "/echo/mail", method="POST", body="m").status_code == 200
    refused = fetch(api, agent, upstream, "/echo/mail", method="POST", body="m")
    assert_error(refused, 429, "budget_exhausted")
    assert 1 <= int(refused.headers["retry-after"]) <= 86400
    assert len(upstream.seen) == 2


def test_a_held_request_is_approved_by_a_person_and_then_goes_once(
    api: Api, upstream: Upstream
) -> None:
    agent, person, _ = keys(api, upstream)
    held = fetch(api, agent, upstream, "/echo/42", method="DELETE")
    assert held.status_code == 202, held.text
    pending = held.json()
    assert set(pending) == {"approvalId", "status", "approvalUrl", "expiresAt"}
    assert pending["status"] == "pending" and not upstream.seen
    approval_id = pending["approvalId"]
    # The console page, without --public-url on the address the request came to
    assert pending["approvalUrl"] == f"http://testserver.local/approvals/{approval_id}"

    shown = api.client.get(f"/v0/approvals/{approval_id}", headers=agent).json()
    assert (shown["status"], shown["method"], shown["path"]) == ("pending", "DELETE", "/echo/42")
    listed = api.client.get("/v0/approvals?status=pending", headers=person).json()
    assert [a["approvalId"] for a in listed["approvals"]] == [approval_id]

    own = api.client.post(f"/v0/approvals/{approval_id}/approve", headers=agent)
    assert_error(own, 403, "forbidden", "insufficient_scope")
    approved = api.client.post(
        f"/v0/approvals/{approval_id}/approve", json={"windowSeconds": 0}, headers=person
    )
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    again = api.client.post(f"/v0/approvals/{approval_id}/deny", headers=person)
    assert_error(again, 409, "approval_decided")

    other = fetch(api, agent, upstream, "/echo/43", method="DELETE", approvalId=approval_id)
    assert_error(other, 409, "approval_mismatch")
    done = fetch(api, agent, upstream, "/echo/42", method="DELETE", approvalId=approval_id)
    assert done.status_code == 200 and [s.method for s in upstream.seen] == ["DELETE"]
    twice = fetch(api, agent, upstream, "/echo/42", method="DELETE", approvalId=approval_id)
    assert_error(twice, 410, "expired", "approval_used")


def test_a_denied_request_is_403(api: Api, upstream: Upstream) -> None:
    agent, person, _ = keys(api, upstream)
    approval_id = fetch(api, agent, upstream, "/echo/1", method="DELETE").json()["approvalId"]
    denied = api.client.post(f"/v0/approvals/{approval_id}/deny", headers=person)
    assert denied.json()["status"] == "denied"
    refused = fetch(api, agent, upstream, "/echo/1", method="DELETE", approvalId=approval_id)
    assert_error(refused, 403, "approval_denied")
    assert not upstream.seen


def test_the_proxy_takes_the_approval_in_a_header_it_never_forwards(
    api: Api, upstream: Upstream
) -> None:
    agent, person, _ = keys(api, upstream)
    held = api.client.delete("/v0/proxy/crm/echo/7", headers=agent)
    assert held.status_code == 202 and held.json()["status"] == "pending"
    approval_id = held.json()["approvalId"]
    api.client.post(f"/v0/approvals/{approval_id}/approve", headers=person)
    done = api.client.delete(
        "/v0/proxy/crm/echo/7", headers={**agent, "Loomal-Approval": approval_id}
    )
    assert done.status_code == 404  # the upstream's own answer: the request went through
    (seen,) = upstream.seen
    assert seen.method == "DELETE" and "loomal-approval" not in {k.lower() for k in seen.headers}
    refused = api.client.put("/v0/proxy/crm/echo/7", headers=agent)
    assert_error(refused, 403, "request_not_allowed", "method_not_allowed")


def test_approvals_of_another_identity_are_not_found(api: Api, upstream: Upstream) -> None:
    agent, _, _ = keys(api, upstream)
    approval_id = fetch(api, agent, upstream, "/echo/1", method="DELETE").json()["approvalId"]
    stranger = api.headers()
    assert_error(api.client.get(f"/v0/approvals/{approval_id}", headers=stranger), 404, "not_found")
    refused = api.client.post(f"/v0/approvals/{approval_id}/approve", headers=stranger)
    assert_error(refused, 404, "not_found")
    assert_error(
        api.client.get("/v0/approvals?status=maybe", headers=agent), 422, "validation_error"
    )
