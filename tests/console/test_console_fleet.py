"""The Identities pages over HTTP, without a browser (#24 item 4): a platform key
signs in to them and nothing else, an identity never sees them, every change goes
through the platform service (and its audit), keys are shown once, and the
console's CSRF and tab-binding checks hold. Both stores."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import TestClient

from loomal.core.models import StoreRequest
from tests.conftest import Api, auth
from tests.console.test_console_http import csrf_of, sign_in

KEY = re.compile(r'id="new-key">(loid-[A-Za-z0-9_-]{43})<')


def platform_sign_in(client: TestClient[Any], key: str) -> str:
    """Sign in with a platform key; keeps the binding; returns the CSRF token."""
    form = client.get("/sign-in")
    answer = client.post("/sign-in", data={"csrf": csrf_of(form.text), "api_key": key})
    assert answer.status_code == 200, answer.text
    found = re.search(r'data-binding="([^"]+)" data-next="/identities"', answer.text)
    assert found, answer.text
    client.headers["x-loomal-binding"] = found.group(1)
    return csrf_of(client.get("/identities").text)


def new_platform_key(api: Api, name: str = "ops") -> str:
    key, _ = api.call(api.vault.platform.create_key, name)
    return str(key)


def create(client: TestClient[Any], csrf: str, **fields: Any) -> tuple[str, str]:
    """Create an identity through the form; (its id, the key shown once)."""
    answer = client.post("/identities", data={"csrf": csrf, **fields})
    assert answer.status_code == 200, answer.text
    key = KEY.search(answer.text)
    assert key, answer.text
    assert f"export LOOMAL_API_KEY={key.group(1)}" in answer.text
    identity = re.search(r'href="/identities/(id_[0-9a-f]+)"', answer.text)
    assert identity
    return identity.group(1), key.group(1)


def test_a_platform_key_manages_identities_end_to_end(api: Api) -> None:
    ops = new_platform_key(api)
    csrf = platform_sign_in(api.client, ops)
    listing = api.client.get("/identities")
    assert "No identities yet" in listing.text and "Signed in with platform key" in listing.text

    identity_id, key = create(
        api.client,
        csrf,
        name="billing-agent",
        scopes=["vault:read", "vault:write"],
        label="billing-bot",
    )
    assert api.client.get("/v0/whoami", headers=auth(key)).json()["name"] == "billing-agent"
    page = api.client.get("/identities").text
    assert "billing-agent" in page and key[:13] in page and "billing-bot" in page
    assert key[13:] not in page  # shown once, never again
    assert key[13:] not in api.client.get(f"/identities/{identity_id}").text
    principal = api.call(api.vault.identities.authenticate, f"Bearer {key}")
    for name in ("a", "b"):
        request = StoreRequest("API_KEY", {"key": "k"})
        api.call(api.vault.service.store_credential, principal, name, request)

    renamed = api.client.post(
        f"/identities/{identity_id}/rename",
        data={"csrf": csrf, "name": "billing"},
        follow_redirects=False,
    )
    assert renamed.status_code == 303
    api.client.post(f"/identities/{identity_id}/scopes", data={"csrf": csrf, "scopes": "vault:use"})
    me = api.client.get("/v0/whoami", headers=auth(key)).json()
    assert (me["name"], me["scopes"]) == ("billing", ["vault:use"])

    rotated = api.client.post(f"/identities/{identity_id}/rotate", data={"csrf": csrf})
    new_key = KEY.search(rotated.text)
    assert new_key and new_key.group(1) != key
    assert api.client.get("/v0/vault", headers=auth(key)).status_code == 401
    assert api.client.get("/v0/vault", headers=auth(new_key.group(1))).status_code == 200
    detail = api.client.get(f"/identities/{identity_id}").text
    assert "billing-bot" in detail  # the rotation kept the label
    assert new_key.group(1)[:13] in detail and key[:13] not in detail

    confirm = api.client.get(f"/identities/{identity_id}/delete").text
    assert "its keys and its 2 credentials?" in confirm
    gone = api.client.post(
        f"/identities/{identity_id}/delete", data={"csrf": csrf}, follow_redirects=False
    )
    assert (gone.status_code, gone.headers["location"]) == (303, "/identities")
    assert "billing" not in api.client.get("/identities").text
    assert api.client.get("/v0/vault", headers=auth(new_key.group(1))).status_code == 401

    api.call(api.vault.flush)
    events = api.call(
        api.vault.store.list_audit_events,
        identity_id=identity_id,
        action=None,
        before=None,
        limit=50,
    )
    actions = [e.action for _, e in reversed(events) if e.key_prefix == ops[:13]]
    assert actions == [
        "identity_create",
        "identity_update",
        "identity_update",
        "identity_rotate_key",
        "identity_delete",
    ]


def test_a_platform_session_opens_nothing_else_and_an_identity_never_these(api: Api) -> None:
    agent = api.new_identity()
    csrf = platform_sign_in(api.client, new_platform_key(api))
    for path in ("/credentials", "/activity", "/add", "/"):
        answer = api.client.get(path, follow_redirects=True)
        assert answer.url.path == "/identities", path
    refused = api.client.post(
        "/add",
        data={"csrf": csrf, "name": "x", "type": "LOGIN", "data.password": "p"},
        follow_redirects=False,
    )
    assert refused.status_code == 303 and refused.headers["location"] == "/sign-in"
    assert api.client.get("/credentials/x/totp").status_code == 401

    other = TestClient(api.app)
    identity_csrf = sign_in(other, agent.api_key)
    assert "Identities" not in other.get("/credentials").text
    for path in ("/identities", "/identities/new", f"/identities/{agent.identity_id}"):
        answer = other.get(path, follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (303, "/credentials")
    attempt = other.post(
        f"/identities/{agent.identity_id}/delete",
        data={"csrf": identity_csrf},
        follow_redirects=False,
    )
    assert attempt.status_code == 303 and attempt.headers["location"] == "/sign-in"
    assert other.get("/v0/whoami", headers=auth(agent.api_key)).status_code == 200


def test_posts_need_this_origin_the_csrf_token_and_the_tabs_binding(api: Api) -> None:
    csrf = platform_sign_in(api.client, new_platform_key(api))
    form = {"name": "x-agent", "scopes": "vault:read"}
    assert api.client.post("/identities", data=form).status_code == 403
    assert api.client.post("/identities", data={**form, "csrf": "forged"}).status_code == 403
    foreign = api.client.post(
        "/identities", data={**form, "csrf": csrf}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    binding = api.client.headers.pop("x-loomal-binding")
    unbound = api.client.post("/identities", data={**form, "csrf": csrf})
    assert unbound.status_code == 403 and "Nothing was saved" in unbound.text
    api.client.headers["x-loomal-binding"] = binding
    assert "x-agent" not in api.client.get("/identities").text


def test_revoking_the_platform_key_ends_its_session(api: Api) -> None:
    ops = new_platform_key(api, "temp")
    platform_sign_in(api.client, ops)
    api.call(api.vault.platform.revoke_keys, ops)
    answer = api.client.get("/identities", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/sign-in")


def test_bad_input_is_told_plainly_and_loses_nothing(api: Api) -> None:
    csrf = platform_sign_in(api.client, new_platform_key(api))
    first, _ = create(api.client, csrf, name="taken", scopes="vault:read")
    again = api.client.post(
        "/identities", data={"csrf": csrf, "name": "taken", "scopes": "vault:read"}
    )
    assert again.status_code == 409 and "already exists" in again.text
    assert 'id="new-key"' not in again.text
    bad = api.client.post(
        "/identities", data={"csrf": csrf, "name": "n", "scopes": "vault:read", "label": "loid-x"}
    )
    assert bad.status_code == 422 and "label" in bad.text
    unscoped = api.client.post("/identities", data={"csrf": csrf, "name": "n"})
    assert unscoped.status_code == 422 and "at least one" in unscoped.text
    none = api.client.post(f"/identities/{first}/scopes", data={"csrf": csrf})
    assert none.status_code == 422 and "at least one scope" in none.text
    assert "vault:read" in api.client.get(f"/identities/{first}").text
    missing = api.client.get("/identities/id_000000000000000000000000")
    assert missing.status_code == 404
    signed_out = TestClient(api.app)
    form = signed_out.get("/sign-in")
    wrong = signed_out.post("/sign-in", data={"csrf": csrf_of(form.text), "api_key": "lopk-no"})
    assert wrong.status_code == 401 and "Invalid API key." in wrong.text
