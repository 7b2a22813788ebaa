"""Sessions that another site tries to plant or swap (#28 items 9-11), over HTTP on
both stores: a tossed session cookie saves nothing, a sign-in link for another
identity asks first, and a backup code is never popped for a page that then fails."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from loomal.core.models import StoreRequest
from tests.conftest import Api
from tests.console.html_forms import posted_fields
from tests.console.test_console_edit import put, read
from tests.console.test_console_http import bound, csrf_of, names, sessions_of, sign_in


def test_a_tossed_session_cookie_saves_nothing(api: Api) -> None:
    victim, mallory = api.new_identity(name="victim"), api.new_identity(name="mallory")
    put(api, mallory.api_key, "bait", StoreRequest("LOGIN", {"password": "x"}))
    sign_in(api.client, victim.api_key)  # the victim's tab holds victim's binding
    attacker = TestClient(api.app)
    sign_in(attacker, mallory.api_key)
    # a page on another port of this host sets the cookie: cookies ignore ports
    api.client.cookies.set("loomal_session", attacker.cookies["loomal_session"])
    add = posted_fields(api.client.get("/add?type=LOGIN").text)  # mallory's form now
    add.update({"name": "my-bank", "data.password": "victims-secret"})
    refused = api.client.post("/add", data=add)
    assert refused.status_code == 403
    assert "Nothing was saved" in refused.text and "Sign out, then sign in again" in refused.text
    assert "victims-secret" not in refused.text
    edit = posted_fields(api.client.get("/credentials/bait/edit").text)
    edit["metadata.username"] = "victim@bank.example"
    assert api.client.post("/credentials/bait/edit", data=edit).status_code == 403
    csrf = csrf_of(api.client.get("/credentials").text)
    assert (
        api.client.post("/credentials/bait/reveal", headers={"X-CSRF-Token": csrf}).status_code
        == 403
    )
    assert names(api, mallory.api_key) == ["bait"]
    assert "username" not in read(api, mallory.api_key, "bait").metadata
    signed_out = api.client.post("/sign-out", data={"csrf": csrf}, follow_redirects=False)
    assert signed_out.headers["location"] == "/sign-in"  # ending it needs no binding


def test_over_tls_cookies_are_host_cookies_and_a_plain_one_is_ignored(api: Api) -> None:
    key = api.new_identity().api_key
    tls = TestClient(api.app, base_url="https://vault.example.test")
    form = tls.get("/sign-in")
    signin_cookie = form.headers["set-cookie"]
    assert signin_cookie.startswith("__Host-loomal_signin=") and "Secure" in signin_cookie
    answer = tls.post("/sign-in", data={"csrf": csrf_of(form.text), "api_key": key})
    session_cookie = next(
        c for c in answer.headers.get_list("set-cookie") if "loomal_session=" in c
    )
    assert session_cookie.startswith("__Host-loomal_session=")
    assert "Secure" in session_cookie and "Path=/" in session_cookie
    assert "Domain" not in session_cookie
    stolen = tls.cookies["__Host-loomal_session"]
    tossed = TestClient(api.app, base_url="https://vault.example.test")
    tossed.cookies.set("loomal_session", stolen)  # what a sibling subdomain could set
    assert tossed.get("/credentials", follow_redirects=False).headers["location"] == "/sign-in"


def test_a_sign_in_link_for_another_identity_asks_first(api: Api) -> None:
    alice = api.new_identity(name="alice")
    api.new_identity(name="bob")
    sign_in(api.client, alice.api_key)
    sessions = sessions_of(api)

    def open_link(name: str) -> Any:
        token = api.call(sessions.issue_login_link, name)
        form = api.client.get("/login")  # its script posts the fragment's token itself
        return api.client.post("/login", data={"csrf": csrf_of(form.text), "token": token})

    asked = open_link("bob")
    assert asked.status_code == 200
    assert "You are signed in as <strong>alice</strong>" in asked.text
    assert "This sign-in link is for <strong>bob</strong>" in asked.text
    assert "Signed in as <strong>alice</strong>" in api.client.get("/credentials").text
    csrf = csrf_of(asked.text)
    kept = api.client.post("/login/cancel", data={"csrf": csrf}, follow_redirects=False)
    assert kept.headers["location"] == "/credentials"
    assert "Signed in as <strong>alice</strong>" in api.client.get("/credentials").text
    assert "loomal_pending" not in api.client.cookies

    asked = open_link("bob")
    switched = api.client.post(
        "/login/switch", data={"csrf": csrf_of(asked.text), "identity": "bob"}
    )
    bound(api.client, switched)
    assert "Signed in as <strong>bob</strong>" in api.client.get("/credentials").text

    same = open_link("bob")  # a link for the identity already signed in: no question
    assert 'id="signed-in"' in same.text


def test_a_write_key_without_read_gets_its_backup_code(api: Api) -> None:
    """vault:write + vault:use: the page needs only the pop, so the code is shown and
    never lost to a later refusal."""
    owner = api.new_identity()
    put(
        api,
        owner.api_key,
        "2fa",
        StoreRequest("TOTP", {"secret": "JBSWY3DPEHPK3PXP", "backupCodes": ["c-1", "c-2"]}),
    )
    writer = api.call(
        api.vault.identities.add_key, owner.name, scopes=["vault:write", "vault:use"]
    ).api_key
    csrf = sign_in(api.client, writer)
    page = api.client.get("/credentials/2fa").text
    assert "Use a backup code" in page and "Reveal" not in page
    assert api.client.get("/credentials/2fa/backup-code").status_code == 200
    used = api.client.post("/credentials/2fa/backup-code", data={"csrf": csrf})
    assert used.status_code == 200
    assert '<output class="code" id="backup-code">c-1</output>' in used.text
    assert "1 unused backup code left" in used.text
    data = read(api, owner.api_key, "2fa").data
    assert data["usedBackupCodes"] == ["c-1"] and data["backupCodes"] == ["c-2"]
