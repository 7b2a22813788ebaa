"""Access requests over HTTP, on both stores: an agent asks for a credential it
lacks (202 with the console URL), a person fulfils it once through the vault's
store path (or declines), the agent's poll sees the answer and never a secret;
the pending limit, the 7-day expiry (a moved clock) and two people at once."""

from __future__ import annotations

import asyncio
from typing import Any

from loomal.core.access_request_models import AccessRequestFulfill
from tests.conftest import Api, ManualClock, auth
from tests.server.test_api import assert_error

SECRET = "sk_live_" + "Zq7-rt" * 6


def people(api: Api) -> tuple[dict[str, str], dict[str, str], Any]:
    """Headers of an agent (vault:use) and a person (vault:write) of one identity."""
    owner = api.new_identity()
    agent = api.call(api.vault.identities.add_key, owner.name, scopes=["vault:use"])
    return auth(agent.api_key), auth(owner.api_key), owner


def ask(api: Api, h: dict[str, str], **fields: Any) -> Any:
    body = {"name": "stripe", "type": "API_KEY", "reason": "To refund order 42", **fields}
    return api.client.post("/v0/requests", json=body, headers=h)


def test_an_agent_asks_a_person_fulfils_and_the_agent_uses_it(clocked_api: Api) -> None:
    api = clocked_api
    agent, person, _ = people(api)
    asked = ask(api, agent, allowedHosts=["api.stripe.com"])
    assert asked.status_code == 202, asked.text
    created = asked.json()
    assert set(created) == {"requestId", "status", "url", "expiresAt"}
    request_id = created["requestId"]
    assert created["status"] == "pending"
    # Without --public-url, the console page on the address the request came to
    assert created["url"] == f"http://testserver.local/requests/{request_id}"

    shown = api.client.get(f"/v0/requests/{request_id}", headers=agent).json()
    assert (shown["status"], shown["name"], shown["type"]) == ("pending", "stripe", "API_KEY")
    assert shown["reason"] == "To refund order 42" and shown["answeredBy"] is None
    listed = api.client.get("/v0/requests", headers=person).json()
    assert [r["requestId"] for r in listed["requests"]] == [request_id]

    refused = api.client.post(
        f"/v0/requests/{request_id}/fulfill", json={"data": {"key": SECRET}}, headers=agent
    )
    assert_error(refused, 403, "forbidden", "insufficient_scope")
    done = api.client.post(
        f"/v0/requests/{request_id}/fulfill", json={"data": {"key": SECRET}}, headers=person
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "fulfilled" and SECRET not in done.text
    polled = api.client.get(f"/v0/requests/{request_id}", headers=agent)
    assert polled.json()["status"] == "fulfilled" and SECRET not in polled.text

    listing = api.client.get("/v0/vault", headers=agent).json()["credentials"]
    (stored,) = [c for c in listing if c["name"] == "stripe"]
    assert stored["metadata"]["allowedHosts"] == ["api.stripe.com"]  # pre-filled
    got = api.client.get("/v0/vault/stripe", headers=person).json()
    assert got["data"]["key"] == SECRET

    again = api.client.post(f"/v0/requests/{request_id}/decline", headers=person)
    assert_error(again, 409, "request_answered")
    actions = [e["action"] for e in api.client.get("/v0/audit", headers=person).json()["events"]]
    assert {"request_create", "request_fulfill", "store"} <= set(actions)
    audit_text = api.client.get("/v0/audit", headers=person).text
    assert SECRET not in audit_text


def test_bad_asks_are_422_and_store_nothing(api: Api) -> None:
    agent, person, _ = people(api)
    assert_error(ask(api, agent, name=".hidden"), 422, "validation_error")
    assert_error(ask(api, agent, type="PASSWORD"), 422, "validation_error")
    assert "500" in assert_error(ask(api, agent, reason="x" * 501), 422, "validation_error")
    assert_error(ask(api, agent, reason="   "), 422, "validation_error")
    assert_error(ask(api, agent, reason="pay \u202egnp.exe"), 422, "validation_error")
    assert_error(ask(api, agent, allowedHosts=[]), 422, "validation_error")
    assert_error(ask(api, agent, allowedHosts=["https://x/"]), 422, "validation_error")
    assert "extra" in assert_error(ask(api, agent, extra=1), 422, "validation_error")
    assert api.client.get("/v0/requests", headers=person).json()["count"] == 0


def test_a_fulfilment_the_vault_refuses_leaves_the_request_pending(api: Api) -> None:
    agent, person, _ = people(api)
    request_id = ask(api, agent).json()["requestId"]
    bad = api.client.post(
        f"/v0/requests/{request_id}/fulfill", json={"data": {"kee": SECRET}}, headers=person
    )
    assert_error(bad, 422, "validation_error")
    assert SECRET not in bad.text
    assert api.client.get(f"/v0/requests/{request_id}", headers=agent).json()["status"] == "pending"
    good = api.client.post(
        f"/v0/requests/{request_id}/fulfill", json={"data": {"key": SECRET}}, headers=person
    )
    assert good.json()["status"] == "fulfilled"


def test_an_existing_name_is_replaced_only_when_the_person_says_which_version(
    api: Api,
) -> None:
    agent, person, _ = people(api)
    old = {"type": "API_KEY", "data": {"key": "revoked-upstream"}}
    assert api.client.put("/v0/vault/stripe", json=old, headers=person).status_code == 200
    request_id = ask(api, agent, reason="The stored key is revoked").json()["requestId"]
    url = f"/v0/requests/{request_id}/fulfill"
    taken = api.client.post(url, json={"data": {"key": SECRET}}, headers=person)
    assert_error(taken, 412, "version_conflict", "exists")
    replaced = api.client.post(
        url, json={"data": {"key": SECRET}}, headers={**person, "If-Match": '"1"'}
    )
    assert replaced.status_code == 200, replaced.text
    assert api.client.get("/v0/vault/stripe", headers=person).json()["data"]["key"] == SECRET


def test_decline_and_who_may_answer(api: Api) -> None:
    agent, person, owner = people(api)
    approver = api.call(api.vault.identities.add_key, owner.name, scopes=["vault:approve"])
    request_id = ask(api, agent).json()["requestId"]
    assert_error(
        api.client.post(f"/v0/requests/{request_id}/decline", headers=agent),
        403,
        "forbidden",
        "insufficient_scope",
    )
    declined = api.client.post(f"/v0/requests/{request_id}/decline", headers=auth(approver.api_key))
    assert declined.status_code == 200 and declined.json()["status"] == "declined"
    assert declined.json()["answeredBy"] == approver.api_key[:13]
    late = api.client.post(
        f"/v0/requests/{request_id}/fulfill", json={"data": {"key": SECRET}}, headers=person
    )
    assert_error(late, 409, "request_answered")
    assert api.client.get("/v0/vault/stripe", headers=person).status_code == 404
    # another identity's request answers like a missing one
    stranger = api.headers()
    assert_error(api.client.get(f"/v0/requests/{request_id}", headers=stranger), 404, "not_found")
    assert_error(
        api.client.post(f"/v0/requests/{request_id}/decline", headers=stranger), 404, "not_found"
    )


def test_twenty_pending_at_most_then_429(api: Api) -> None:
    agent, person, _ = people(api)
    ids = [ask(api, agent, name=f"cred-{i}").json()["requestId"] for i in range(20)]
    over = ask(api, agent, name="cred-20")
    assert_error(over, 429, "rate_limited", "too_many_pending_requests")
    assert "retry-after" in over.headers
    api.client.post(f"/v0/requests/{ids[0]}/decline", headers=person)
    assert ask(api, agent, name="cred-20").status_code == 202


def test_a_request_expires_after_seven_days(clocked_api: Api, clock: ManualClock) -> None:
    api = clocked_api
    agent, person, _ = people(api)
    request_id = ask(api, agent).json()["requestId"]
    clock.advance(7 * 86400 - 1)
    assert api.client.get(f"/v0/requests/{request_id}", headers=agent).json()["status"] == "pending"
    clock.advance(1)
    assert api.client.get(f"/v0/requests/{request_id}", headers=agent).json()["status"] == "expired"
    late = api.client.post(
        f"/v0/requests/{request_id}/fulfill", json={"data": {"key": SECRET}}, headers=person
    )
    assert_error(late, 410, "expired", "request_expired")
    assert_error(
        api.client.post(f"/v0/requests/{request_id}/decline", headers=person),
        410,
        "expired",
        "request_expired",
    )
    assert api.client.get("/v0/vault/stripe", headers=person).status_code == 404
    listed = api.client.get("/v0/requests?status=expired", headers=person).json()
    assert [r["requestId"] for r in listed["requests"]] == [request_id]
    # an expired request no longer counts against the limit
    for i in range(20):
        assert ask(api, agent, name=f"n-{i}").status_code == 202


def test_two_people_at_once_one_fulfils_the_other_gets_409(api: Api) -> None:
    agent, person, _ = people(api)
    request_id = ask(api, agent).json()["requestId"]
    principal = api.call(api.vault.identities.authenticate, person["Authorization"])
    requests = api.vault.requests

    async def both() -> list[Any]:
        answers = [
            requests.fulfill(principal, request_id, AccessRequestFulfill(data={"key": f"k-{i}"}))
            for i in range(2)
        ]
        return await asyncio.gather(*answers, return_exceptions=True)

    outcomes = api.call(lambda: both())
    codes = sorted(getattr(o, "code", "ok") for o in outcomes)
    assert codes == ["ok", "request_answered"], outcomes
    versions = api.client.get("/v0/vault/stripe/versions", headers=person).json()["versions"]
    assert len(versions) == 1


def test_the_request_created_hook_hears_each_new_request_and_cannot_undo_it(api: Api) -> None:
    agent, person, _ = people(api)
    heard: list[Any] = []

    async def hear(request: Any, identity_id: str) -> None:
        heard.append(request)

    api.vault.requests.on_created = hear
    request_id = ask(api, agent).json()["requestId"]
    assert [(r.request_id, r.status, r.reason) for r in heard] == [
        (request_id, "pending", "To refund order 42")
    ]

    async def broken(request: Any, identity_id: str) -> None:
        raise RuntimeError("the webhook outbox is unreachable")

    api.vault.requests.on_created = broken
    assert ask(api, agent, name="other").status_code == 202
    assert api.client.get("/v0/requests", headers=person).json()["count"] == 2


def test_a_fulfilment_whose_server_died_mid_way_frees_the_request_after_a_minute(
    clocked_api: Api, clock: ManualClock
) -> None:
    api = clocked_api
    agent, person, owner = people(api)
    request_id = ask(api, agent).json()["requestId"]
    now = int(clock() * 1_000_000)
    claimed = api.call(
        api.vault.store.claim_access_request,
        identity_id=owner.identity_id,
        request_id=request_id,
        status="fulfilling",
        answered_by="loid-gone0000",
        now=now,
    )
    assert claimed  # ... and that server never stored nor gave it back
    shown = api.client.get(f"/v0/requests/{request_id}", headers=agent).json()
    assert (shown["status"], shown["answeredBy"]) == ("pending", None)
    url = f"/v0/requests/{request_id}/fulfill"
    busy = api.client.post(url, json={"data": {"key": SECRET}}, headers=person)
    assert_error(busy, 409, "request_answered")
    clock.advance(61)
    done = api.client.post(url, json={"data": {"key": SECRET}}, headers=person)
    assert done.status_code == 200 and done.json()["status"] == "fulfilled"
