"""The console's Approvals page over HTTP, on both stores: an agent's held request
listed with what it would send and its reason (as text), the header's badge,
Approve with a window, Deny, two people deciding at once, and who may decide."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from tests.conftest import Api, auth
from tests.console.html_forms import posted_fields
from tests.console.test_console_http import sign_in
from tests.upstream import Upstream

KEY = "sk_live_" + "Cn7-pp" * 6
RULES = [
    {"methods": ["GET"], "paths": ["/echo/**"]},
    {"methods": ["DELETE"], "paths": ["/echo/*"], "approval": {"windowSeconds": 0}},
]
EVIL = '<script>alert("pwned")</script> & <b>bold</b>'


@pytest.fixture
def api(loopback_api: Api) -> Api:
    return loopback_api


@dataclasses.dataclass
class Crm:
    owner_key: str
    agent: dict[str, str]
    agent_key: str
    upstream: Upstream


def crm(api: Api, upstream: Upstream) -> Crm:
    """An identity whose owner (vault:read+write) signs in to the console, and its
    agent (vault:use) whose DELETEs wait for a person."""
    owner = api.new_identity()
    agent = api.call(
        api.vault.identities.add_key, owner.name, scopes=["vault:use"], label="crm-agent"
    )
    body = {
        "type": "API_KEY",
        "data": {"key": KEY},
        "metadata": {"allowedHosts": ["127.0.0.1"], "baseUrl": upstream.base_url, "rules": RULES},
    }
    stored = api.client.put("/v0/vault/crm", json=body, headers=auth(owner.api_key))
    assert stored.status_code == 200, stored.text
    return Crm(owner.api_key, auth(agent.api_key), agent.api_key, upstream)


def held(api: Api, c: Crm, path: str, **fields: Any) -> str:
    body = {"url": f"{c.upstream.base_url}{path}", "method": "DELETE", **fields}
    answer = api.client.post("/v0/vault/crm/fetch", json=body, headers=c.agent)
    assert answer.status_code == 202, answer.text
    approval_id: str = answer.json()["approvalId"]
    assert answer.json()["approvalUrl"].endswith(f"/approvals/{approval_id}")
    return approval_id


def repeat(api: Api, c: Crm, path: str, approval_id: str) -> Any:
    body = {"url": f"{c.upstream.base_url}{path}", "method": "DELETE", "approvalId": approval_id}
    return api.client.post("/v0/vault/crm/fetch", json=body, headers=c.agent)


def form_of(html: str, action: str) -> dict[str, str]:
    """The fields of the page's form posting to ``action`` (as a browser would send)."""
    match = re.search(rf'<form method="post" action="{re.escape(action)}"', html)
    assert match, f"no form posting to {action}"
    marked = html[: match.start()] + '<form id="picked"' + html[match.start() + 5 :]
    return posted_fields(marked, "picked")


def badge(html: str) -> str | None:
    found = re.search(r'id="approvals-badge"[^>]*>(\d+)<', html)
    return None if found is None else found.group(1)


def test_a_person_sees_what_waits_and_approves_it_for_one_request(
    api: Api, upstream: Upstream
) -> None:
    c = crm(api, upstream)
    first = held(api, c, "/echo/42", reason=EVIL)
    second = held(api, c, "/echo/43", body="x" * 2048)
    sign_in(api.client, c.owner_key)

    page = api.client.get("/approvals")
    assert page.status_code == 200
    html = page.text
    assert badge(html) == "2"
    assert html.index(second) < html.index(first)  # newest first among the pending
    assert "<code>DELETE</code> <code>127.0.0.1/echo/42</code>" in html
    assert "2.0 KiB" in html and "0 B" in html
    assert f"key crm-agent ({c.agent_key[:13]}" in html
    assert "<script>alert" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; &amp; &lt;b&gt;" in html
    assert "This request only" in html and "1 day" in html

    fields = form_of(html, f"/approvals/{first}/approve")
    assert fields["window"] == "0"
    answer = api.client.post(f"/approvals/{first}/approve", data=fields, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/approvals/{first}"
    shown = api.client.get(f"/approvals/{first}").text
    assert "Approved" in shown and f"/approvals/{first}/approve" not in shown
    assert badge(shown) == "1"

    assert repeat(api, c, "/echo/42", first).status_code == 200
    assert [s.method for s in upstream.seen] == ["DELETE"]
    assert repeat(api, c, "/echo/42", first).status_code == 410  # used once
    again = held(api, c, "/echo/42")  # no window: the next one asks again
    assert again != first


def test_a_window_lets_the_same_rule_through_for_its_time(api: Api, upstream: Upstream) -> None:
    c = crm(api, upstream)
    approval_id = held(api, c, "/echo/1")
    sign_in(api.client, c.owner_key)
    fields = form_of(api.client.get("/approvals").text, f"/approvals/{approval_id}/approve")
    fields["window"] = "900"
    api.client.post(f"/approvals/{approval_id}/approve", data=fields, follow_redirects=False)
    api_view = api.client.get(f"/v0/approvals/{approval_id}", headers=c.agent).json()
    assert api_view["status"] == "approved" and api_view["windowUntil"] is not None
    other = {"url": f"{upstream.base_url}/echo/2", "method": "DELETE"}
    assert api.client.post("/v0/vault/crm/fetch", json=other, headers=c.agent).status_code == 200
    assert [s.path for s in upstream.seen] == ["/echo/2"]


def test_deny_and_the_second_of_two_people_is_told_it_was_decided(
    api: Api, upstream: Upstream
) -> None:
    c = crm(api, upstream)
    approval_id = held(api, c, "/echo/9")
    sign_in(api.client, c.owner_key)
    html = api.client.get(f"/approvals/{approval_id}").text
    deny = form_of(html, f"/approvals/{approval_id}/deny")
    approve = form_of(html, f"/approvals/{approval_id}/approve")
    odd = api.client.post(
        f"/approvals/{approval_id}/approve", data={**approve, "window": "31536000"}
    )
    assert odd.status_code == 422 and "1 day" in odd.text  # not a choice the page offers

    denied = api.client.post(f"/approvals/{approval_id}/deny", data=deny, follow_redirects=False)
    assert denied.status_code == 303
    late = api.client.post(f"/approvals/{approval_id}/approve", data=approve)
    assert late.status_code == 409
    assert "already decided" in late.text and "denied" in late.text
    refused = repeat(api, c, "/echo/9", approval_id)
    assert refused.status_code == 403 and refused.json()["error"] == "approval_denied"
    assert not upstream.seen
    assert "Denied" in api.client.get("/approvals").text


def test_a_post_without_the_session_csrf_token_decides_nothing(
    api: Api, upstream: Upstream
) -> None:
    c = crm(api, upstream)
    approval_id = held(api, c, "/echo/5")
    sign_in(api.client, c.owner_key)
    forged = api.client.post(f"/approvals/{approval_id}/approve", data={"window": "0"})
    assert forged.status_code == 403
    shown = api.client.get(f"/v0/approvals/{approval_id}", headers=c.agent).json()
    assert shown["status"] == "pending"


def test_the_agents_own_key_may_look_but_not_decide(api: Api, upstream: Upstream) -> None:
    c = crm(api, upstream)
    approval_id = held(api, c, "/echo/7")
    sign_in(api.client, c.agent_key)
    html = api.client.get("/approvals").text
    assert approval_id in html and f"/approvals/{approval_id}/approve" not in html
    assert "may look but not decide" in html
    csrf = re.search(r'name="csrf" value="([^"]+)"', html)
    assert csrf is not None
    refused = api.client.post(
        f"/approvals/{approval_id}/approve", data={"csrf": csrf.group(1), "window": "0"}
    )
    assert refused.status_code == 403
    assert (
        api.client.get(f"/v0/approvals/{approval_id}", headers=c.agent).json()["status"]
        == "pending"
    )


def test_another_identitys_approval_is_not_found_and_signed_out_goes_to_sign_in(
    api: Api, upstream: Upstream
) -> None:
    c = crm(api, upstream)
    approval_id = held(api, c, "/echo/8")
    fresh = api.client.get(f"/approvals/{approval_id}", follow_redirects=False)
    assert fresh.status_code == 303 and fresh.headers["location"] == "/sign-in"
    stranger = api.new_identity()
    sign_in(api.client, stranger.api_key)
    assert api.client.get(f"/approvals/{approval_id}").status_code == 404
    html = api.client.get("/approvals").text
    assert approval_id not in html and badge(html) is None
    assert "Nothing is waiting for a decision" in html


def test_a_held_read_of_a_secret_is_approved_for_one_read_without_a_window(api: Api) -> None:
    owner = api.new_identity()
    reader = api.call(api.vault.identities.add_key, owner.name, scopes=["vault:read"])
    body = {"type": "LOGIN", "data": {"password": "pw-1"}, "metadata": {"reveal": "approval"}}
    assert api.client.put("/v0/vault/bank", json=body, headers=auth(owner.api_key)).is_success
    agent = {**auth(reader.api_key), "Loomal-Reason": "pay the invoice"}
    approval_id = api.client.get("/v0/vault/bank", headers=agent).json()["approvalId"]

    sign_in(api.client, owner.api_key)
    html = api.client.get("/approvals").text
    assert "Read the secret of <strong>bank</strong>" in html and "pay the invoice" in html
    assert "pw-1" not in html and 'name="window"' not in html
    fields = form_of(html, f"/approvals/{approval_id}/approve")
    api.client.post(f"/approvals/{approval_id}/approve", data=fields, follow_redirects=False)
    got = api.client.get("/v0/vault/bank", headers={**agent, "Loomal-Approval": approval_id})
    assert got.status_code == 200 and got.json()["data"]["password"] == "pw-1"
    assert "Approved and used" in api.client.get(f"/approvals/{approval_id}").text
