"""The console's Requests pages without a browser (both stores): the agent's words
shown as plain text, the request's type form posting a fulfilment, Decline, and a
held name replaced only when the person ticks Replace."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, auth
from tests.console.html_forms import posted_fields
from tests.console.test_console_http import sign_in

HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)"> please'


def asked(api: Api, owner: Any, **fields: Any) -> str:
    """An access request by a vault:use key of ``owner`` labelled like markup."""
    agent = api.call(
        api.vault.identities.add_key, owner.name, scopes=["vault:use"], label="<b>bot</b>"
    )
    body = {"name": "crm", "type": "API_KEY", "reason": HOSTILE, **fields}
    answer = api.client.post("/v0/requests", json=body, headers=auth(agent.api_key))
    assert answer.status_code == 202, answer.text
    request_id: str = answer.json()["requestId"]
    return request_id


def test_a_request_is_shown_as_text_and_fulfilled_from_its_form(api: Api) -> None:
    owner = api.new_identity()
    key = owner.api_key
    request_id = asked(api, owner, allowedHosts=["api.crm.example"])
    sign_in(api.client, key)
    listing = api.client.get("/requests").text
    assert "<script>alert(1)" not in listing and "<b>bot</b>" not in listing
    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt;" in listing and "&lt;b&gt;bot&lt;/b&gt;" in listing
    )
    assert f'href="/requests/{request_id}"' in listing

    page = api.client.get(f"/requests/{request_id}").text
    assert "<script>alert(1)" not in page and "onerror=" not in page.replace("onerror=&quot;", "")
    fields = posted_fields(page)
    assert (fields["name"], fields["type"]) == ("crm", "API_KEY")
    assert fields["metadata.allowedHosts"] == "api.crm.example"
    fields["data.key"] = "crm_live_123"
    done = api.client.post(f"/requests/{request_id}/fulfill", data=fields, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/credentials/crm"
    got = api.client.get("/v0/vault/crm", headers=auth(key)).json()
    assert got["data"] == {"key": "crm_live_123"}
    assert got["metadata"]["allowedHosts"] == ["api.crm.example"]
    status = api.client.get(f"/v0/requests/{request_id}", headers=auth(key)).json()["status"]
    assert status == "fulfilled"
    assert "nothing to answer" in api.client.get(f"/requests/{request_id}").text


def test_a_bad_fulfilment_comes_back_with_the_error_and_nothing_stored(api: Api) -> None:
    owner = api.new_identity()
    key = owner.api_key
    request_id = asked(api, owner)
    sign_in(api.client, key)
    fields = posted_fields(api.client.get(f"/requests/{request_id}").text)
    fields["name"] = "other-name"  # the name is the request's, whatever is posted
    refused = api.client.post(f"/requests/{request_id}/fulfill", data=fields)
    assert refused.status_code == 422 and "was not saved" in refused.text
    assert api.client.get("/v0/vault/crm", headers=auth(key)).status_code == 404
    assert api.client.get("/v0/vault/other-name", headers=auth(key)).status_code == 404
    status = api.client.get(f"/v0/requests/{request_id}", headers=auth(key)).json()["status"]
    assert status == "pending"


def test_a_held_name_needs_replace_ticked(api: Api) -> None:
    owner = api.new_identity()
    key = owner.api_key
    old = {"type": "API_KEY", "data": {"key": "revoked"}}
    assert api.client.put("/v0/vault/crm", json=old, headers=auth(key)).status_code == 200
    request_id = asked(api, owner)
    sign_in(api.client, key)
    page = api.client.get(f"/requests/{request_id}").text
    assert 'name="replace" value="1"' in page
    fields = posted_fields(page)
    fields["data.key"] = "crm_new"
    refused = api.client.post(f"/requests/{request_id}/fulfill", data=fields)
    assert refused.status_code == 409 and "tick Replace" in refused.text
    assert api.client.get("/v0/vault/crm", headers=auth(key)).json()["data"]["key"] == "revoked"
    fields["replace"] = "1"
    done = api.client.post(f"/requests/{request_id}/fulfill", data=fields, follow_redirects=False)
    assert done.status_code == 303
    assert api.client.get("/v0/vault/crm", headers=auth(key)).json()["data"]["key"] == "crm_new"


def test_decline_in_the_console(api: Api) -> None:
    owner = api.new_identity()
    key = owner.api_key
    request_id = asked(api, owner)
    csrf = sign_in(api.client, key)
    page = api.client.get(f"/requests/{request_id}").text
    decline = posted_fields(page, form_id="decline-form")
    assert decline["csrf"] == csrf
    answer = api.client.post(
        f"/requests/{request_id}/decline", data=decline, follow_redirects=False
    )
    assert answer.status_code == 303
    status = api.client.get(f"/v0/requests/{request_id}", headers=auth(key)).json()["status"]
    assert status == "declined"
    assert "declined" in api.client.get("/requests").text


def test_a_session_sees_only_the_answers_its_key_may_give(api: Api) -> None:
    owner = api.new_identity()
    request_id = asked(api, owner)
    user = api.call(api.vault.identities.add_key, owner.name, scopes=["vault:use"])
    sign_in(api.client, user.api_key)
    page = api.client.get(f"/requests/{request_id}").text
    assert "needs a key with vault:write" in page
    assert 'id="decline-form"' not in page and 'id="credential-form"' not in page

    approver = api.call(api.vault.identities.add_key, owner.name, scopes=["vault:approve"])
    api.client.cookies.clear()
    sign_in(api.client, approver.api_key)
    page = api.client.get(f"/requests/{request_id}").text
    assert 'id="credential-form"' not in page
    answer = api.client.post(
        f"/requests/{request_id}/decline",
        data=posted_fields(page, form_id="decline-form"),
        follow_redirects=False,
    )
    assert answer.status_code == 303
    status = api.client.get(f"/v0/requests/{request_id}", headers=auth(owner.api_key)).json()
    assert status["status"] == "declined"
