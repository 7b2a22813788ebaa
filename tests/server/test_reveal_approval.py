"""``reveal: "approval"`` on a credential, over HTTP on both stores: an agent key's
read of the secret (current data, a kept version, the TOTP code) waits for a
person, goes once when approved, is refused when denied; a vault:write key and
the console are not held. And the agent's reason: validated, kept, returned,
shown as given; the proxy's Loomal-Reason never forwarded."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tests.conftest import Api, auth
from tests.console.test_console_http import sign_in
from tests.server.test_api import assert_error
from tests.upstream import Upstream

PASSWORD = "pw-Reveal-" + "k3" * 8
SEED = "JBSWY3DPEHPK3PXP"


@pytest.fixture
def api(loopback_api: Api) -> Api:
    return loopback_api


@dataclasses.dataclass
class People:
    owner: dict[str, str]
    owner_key: str
    agent: dict[str, str]
    person: dict[str, str]


def people(api: Api, metadata: dict[str, Any] | None = None) -> People:
    owner = api.new_identity()
    agent = api.call(api.vault.identities.add_key, owner.name, scopes=["vault:read"])
    person = api.call(api.vault.identities.add_key, owner.name, scopes=["vault:approve"])
    body = {
        "type": "LOGIN",
        "data": {"username": "bot", "password": PASSWORD, "totp": SEED},
        "metadata": {"reveal": "approval", **(metadata or {})},
    }
    stored = api.client.put("/v0/vault/bank", json=body, headers=auth(owner.api_key))
    assert stored.status_code == 200, stored.text
    return People(auth(owner.api_key), owner.api_key, auth(agent.api_key), auth(person.api_key))


def test_an_agents_read_waits_for_a_person_and_goes_once(api: Api) -> None:
    p = people(api)
    first = api.client.get("/v0/vault/bank", headers={**p.agent, "Loomal-Reason": "log in"})
    assert first.status_code == 202, first.text
    assert PASSWORD not in first.text
    pending = first.json()
    assert set(pending) == {"approvalId", "status", "approvalUrl", "expiresAt"}
    approval_id = pending["approvalId"]
    assert pending["approvalUrl"] == f"http://testserver.local/approvals/{approval_id}"

    shown = api.client.get(f"/v0/approvals/{approval_id}", headers=p.person).json()
    assert (shown["kind"], shown["reason"], shown["credentialName"]) == ("reveal", "log in", "bank")
    still = api.client.get("/v0/vault/bank", headers={**p.agent, "Loomal-Approval": approval_id})
    assert still.status_code == 202 and still.json()["approvalId"] == approval_id

    window = api.client.post(
        f"/v0/approvals/{approval_id}/approve", json={"windowSeconds": 600}, headers=p.person
    )
    assert_error(window, 422, "validation_error")
    approved = api.client.post(f"/v0/approvals/{approval_id}/approve", headers=p.person)
    assert approved.json()["status"] == "approved"

    code = api.client.get(
        "/v0/vault/bank/totp", headers={**p.agent, "Loomal-Approval": approval_id}
    )
    assert_error(code, 409, "approval_mismatch")  # approved for the data, not a code
    got = api.client.get("/v0/vault/bank", headers={**p.agent, "Loomal-Approval": approval_id})
    assert got.status_code == 200 and got.json()["data"]["password"] == PASSWORD
    twice = api.client.get("/v0/vault/bank", headers={**p.agent, "Loomal-Approval": approval_id})
    assert_error(twice, 410, "expired", "approval_used")
    assert api.client.get("/v0/vault/bank", headers=p.agent).status_code == 202


def test_a_denied_read_is_403_and_the_totp_code_and_old_versions_wait_too(api: Api) -> None:
    p = people(api)
    code = api.client.get("/v0/vault/bank/totp", headers=p.agent)
    assert code.status_code == 202
    approval_id = code.json()["approvalId"]
    api.client.post(f"/v0/approvals/{approval_id}/deny", headers=p.person)
    refused = api.client.get(
        "/v0/vault/bank/totp", headers={**p.agent, "Loomal-Approval": approval_id}
    )
    assert_error(refused, 403, "approval_denied")

    again = {"type": "LOGIN", "data": {"password": "new"}, "metadata": {"reveal": "approval"}}
    assert api.client.put("/v0/vault/bank", json=again, headers=p.owner).status_code == 200
    old = api.client.get("/v0/vault/bank?version=1", headers=p.agent)
    assert old.status_code == 202 and PASSWORD not in old.text
    old_id = old.json()["approvalId"]
    api.client.post(f"/v0/approvals/{old_id}/approve", headers=p.person)
    current = api.client.get("/v0/vault/bank", headers={**p.agent, "Loomal-Approval": old_id})
    assert_error(current, 409, "approval_mismatch")
    got = api.client.get("/v0/vault/bank?version=1", headers={**p.agent, "Loomal-Approval": old_id})
    assert got.status_code == 200 and got.json()["data"]["password"] == PASSWORD


def test_a_person_in_the_loop_is_not_held(api: Api) -> None:
    p = people(api)
    owner = api.client.get("/v0/vault/bank", headers=p.owner)
    assert owner.status_code == 200 and owner.json()["data"]["password"] == PASSWORD
    csrf = sign_in(api.client, p.owner_key)
    revealed = api.client.post("/credentials/bank/reveal", headers={"x-csrf-token": csrf})
    assert revealed.status_code == 200 and revealed.json()["data"]["password"] == PASSWORD
    listed = api.client.get("/v0/approvals", headers=p.person).json()
    assert listed["count"] == 0


def test_credentials_without_reveal_are_read_as_before_and_bad_values_refused(api: Api) -> None:
    owner = api.new_identity()
    agent = api.call(api.vault.identities.add_key, owner.name, scopes=["vault:read"])
    plain = {"type": "LOGIN", "data": {"password": PASSWORD}, "metadata": {"note": "reveal"}}
    assert api.client.put("/v0/vault/plain", json=plain, headers=auth(owner.api_key)).is_success
    got = api.client.get("/v0/vault/plain", headers=auth(agent.api_key))
    assert got.status_code == 200 and got.json()["data"]["password"] == PASSWORD
    for bad in ("always", True, {"by": "person"}):
        body = {"type": "LOGIN", "data": {"password": "x"}, "metadata": {"reveal": bad}}
        refused = api.client.put("/v0/vault/bad", json=body, headers=auth(owner.api_key))
        assert "metadata.reveal" in assert_error(refused, 422, "validation_error")


def test_the_reason_is_validated_kept_and_never_forwarded(api: Api, upstream: Upstream) -> None:
    owner = api.new_identity()
    agent = auth(api.call(api.vault.identities.add_key, owner.name, scopes=["vault:use"]).api_key)
    rules = [{"methods": ["DELETE"], "paths": ["/echo/*"], "approval": {"windowSeconds": 0}}]
    body = {
        "type": "API_KEY",
        "data": {"key": "sk_live_" + "Rr5" * 10},
        "metadata": {"allowedHosts": ["127.0.0.1"], "baseUrl": upstream.base_url, "rules": rules},
    }
    assert api.client.put("/v0/vault/crm", json=body, headers=auth(owner.api_key)).is_success
    url = f"{upstream.base_url}/echo/1"

    too_long = {"url": url, "method": "DELETE", "reason": "x" * 501}
    refused = api.client.post("/v0/vault/crm/fetch", json=too_long, headers=agent)
    assert refused.status_code == 422 and "reason" in refused.text
    control = {"url": url, "method": "DELETE", "reason": "ok\x1b[31m red"}
    refused = api.client.post("/v0/vault/crm/fetch", json=control, headers=agent)
    assert_error(refused, 422, "validation_error")

    said = "Removing the duplicate contact <Ann> & co, as asked"
    fetched = {"url": url, "method": "DELETE", "reason": said}
    held = api.client.post("/v0/vault/crm/fetch", json=fetched, headers=agent).json()
    listed = api.client.get("/v0/approvals", headers=agent).json()["approvals"]
    assert [(a["approvalId"], a["reason"], a["kind"]) for a in listed] == [
        (held["approvalId"], said, "request")
    ]

    reason = "Tidying up — café".encode()
    proxied = api.client.delete(
        "/v0/proxy/crm/echo/2",
        headers=[(k.encode(), v.encode()) for k, v in agent.items()] + [(b"Loomal-Reason", reason)],
    )
    assert proxied.status_code == 202
    shown = api.client.get(f"/v0/approvals/{proxied.json()['approvalId']}", headers=agent).json()
    assert shown["reason"] == "Tidying up — café"
    person = api.call(api.vault.identities.add_key, owner.name, scopes=["vault:approve"])
    api.client.post(f"/v0/approvals/{shown['approvalId']}/approve", headers=auth(person.api_key))
    done = api.client.delete(
        "/v0/proxy/crm/echo/2",
        headers={
            **agent,
            "Loomal-Approval": shown["approvalId"],
            "Loomal-Reason": "again",
        },
    )
    assert done.status_code == 404  # the upstream's own answer: it went through
    (seen,) = upstream.seen
    assert not {"loomal-reason", "loomal-approval"} & {k.lower() for k in seen.headers}
