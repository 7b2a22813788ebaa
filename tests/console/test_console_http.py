"""The console over HTTP, without a browser: headers, cookies, CSRF, sessions,
scopes and sign-in links, against the real app and both stores."""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import pytest
import zxingcpp
from litestar.testing import TestClient

from loomal.console.sessions import ConsoleSessions
from loomal.core.models import StoreRequest
from loomal.core.totp import totp_code
from loomal.errors import ValidationError
from tests.conftest import Api
from tests.console.html_forms import posted_fields

if TYPE_CHECKING:
    from typing_extensions import Buffer

SECRET = "hunter2-correct-horse-battery"


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def bound(client: TestClient[Any], response: Any) -> None:
    """Assert ``response`` answers a sign-in, and keep its binding as the page's
    script does (here: a header every later request of ``client`` sends)."""
    assert response.status_code == 200, response.text
    match = re.search(
        r'id="signed-in" data-binding="([^"]+)" data-next="/credentials"', response.text
    )
    assert match, response.text
    client.headers["x-loomal-binding"] = match.group(1)


def sign_in(client: TestClient[Any], api_key: str) -> str:
    """Sign in through the form; returns the session's CSRF token."""
    form = client.get("/sign-in")
    response = client.post(
        "/sign-in",
        data={"csrf": csrf_of(form.text), "api_key": api_key},
        follow_redirects=False,
    )
    bound(client, response)
    return csrf_of(client.get("/credentials").text)


def sessions_of(api: Api) -> ConsoleSessions:
    api.client.get("/sign-in")  # builds the app's ConsoleSessions
    sessions: ConsoleSessions = api.app.state.console_sessions
    return sessions


def store(api: Api, key: str, name: str, ctype: str, data: dict[str, Any]) -> None:
    principal = api.call(api.vault.identities.authenticate, f"Bearer {key}")
    api.call(api.vault.service.store_credential, principal, name, StoreRequest(ctype, data))


def names(api: Api, key: str) -> list[str]:
    principal = api.call(api.vault.identities.authenticate, f"Bearer {key}")
    page = api.call(api.vault.service.list_credentials, principal)
    return [c.name for c in page.credentials]


def test_every_page_has_a_strict_csp_and_no_store(api: Api) -> None:
    key = api.new_identity().api_key
    sign_in(api.client, key)
    store(api, key, "github", "LOGIN", {"password": SECRET})
    for path in ("/sign-in", "/login", "/credentials", "/credentials/github", "/add", "/activity"):
        response = api.client.get(path)
        assert response.status_code == 200, path
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-frame-options"] == "DENY"
        assert "<script>" not in response.text and " style=" not in response.text
        assert "http://" not in response.text.replace("http://testserver", "")  # nothing remote


def test_session_cookie_is_httponly_strict_and_secure_over_tls(api: Api) -> None:
    key = api.new_identity().api_key
    form = api.client.get("/sign-in")
    response = api.client.post(
        "/sign-in", data={"csrf": csrf_of(form.text), "api_key": key}, follow_redirects=False
    )
    cookie = next(c for c in response.headers.get_list("set-cookie") if "loomal_session=" in c)
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    tls = TestClient(api.app, base_url="https://testserver.local")
    form = tls.get("/sign-in")
    response = tls.post(
        "/sign-in", data={"csrf": csrf_of(form.text), "api_key": key}, follow_redirects=False
    )
    cookie = next(c for c in response.headers.get_list("set-cookie") if "loomal_session=" in c)
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_state_changing_posts_need_the_csrf_token_and_this_origin(api: Api) -> None:
    key = api.new_identity().api_key
    csrf = sign_in(api.client, key)
    form = {"name": "x", "type": "LOGIN", "data.password": SECRET}
    assert api.client.post("/add", data=form).status_code == 403
    assert api.client.post("/add", data={**form, "csrf": "forged"}).status_code == 403
    foreign = api.client.post(
        "/add", data={**form, "csrf": csrf}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    cross = api.client.post(
        "/add", data={**form, "csrf": csrf}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert cross.status_code == 403
    assert names(api, key) == []
    store(api, key, "kept", "LOGIN", {"password": SECRET})
    assert api.client.post("/credentials/kept/delete", data={}).status_code == 403
    assert api.client.post("/sign-out", data={}).status_code == 403
    assert names(api, key) == ["kept"]
    ok = api.client.post("/add", data={**form, "csrf": csrf}, follow_redirects=False)
    assert ok.status_code == 303
    assert names(api, key) == ["kept", "x"]


def test_sign_in_form_needs_its_own_token(api: Api) -> None:
    key = api.new_identity().api_key
    api.client.get("/sign-in")
    response = api.client.post("/sign-in", data={"csrf": "guess", "api_key": key})
    assert response.status_code == 403
    assert "loomal_session" not in api.client.cookies


def test_no_secret_in_the_first_html_of_any_page(api: Api) -> None:
    key = api.new_identity().api_key
    sign_in(api.client, key)
    store(api, key, "db", "DATABASE", {"password": SECRET, "connectionString": "pg://" + SECRET})
    store(api, key, "bag", "CUSTOM", {"token": SECRET})
    for path in (
        "/credentials",
        "/credentials/db",
        "/credentials/db/edit",
        "/credentials/bag/edit",
    ):
        page = api.client.get(path)
        assert page.status_code == 200, path
        assert SECRET not in page.text, path
    assert 'name="custom.0.key" value="token"' in api.client.get("/credentials/bag/edit").text


def test_reveal_fetches_secrets_on_demand(api: Api) -> None:
    key = api.new_identity().api_key
    csrf = sign_in(api.client, key)
    store(api, key, "db", "DATABASE", {"password": SECRET})
    assert api.client.post("/credentials/db/reveal").status_code == 403  # no CSRF header
    revealed = api.client.post("/credentials/db/reveal", headers={"X-CSRF-Token": csrf})
    assert revealed.json() == {"data": {"password": SECRET}, "hasTOTP": False}
    assert revealed.headers["cache-control"] == "no-store"


def test_idle_and_absolute_timeouts_end_the_session(api: Api) -> None:
    key = api.new_identity().api_key
    sign_in(api.client, key)
    sessions = sessions_of(api)
    start = time.time()
    sessions.clock = lambda: start + sessions.idle_timeout + 5
    response = api.client.get("/credentials", follow_redirects=False)
    assert response.headers["location"] == "/sign-in"
    sessions.clock = time.time
    assert api.client.get("/credentials", follow_redirects=False).status_code == 303  # gone

    sign_in(api.client, key)
    step = sessions.idle_timeout / 2
    now = start
    while now < start + sessions.absolute_timeout - step:  # active all along
        now += step

        def clock(at: float = now) -> float:  # the time frozen at this step
            return at

        sessions.clock = clock
        assert api.client.get("/credentials", follow_redirects=False).status_code == 200
    sessions.clock = lambda: start + sessions.absolute_timeout + 1
    assert api.client.get("/credentials", follow_redirects=False).status_code == 303


def test_sign_out_ends_the_session_on_the_server(api: Api) -> None:
    key = api.new_identity().api_key
    csrf = sign_in(api.client, key)
    stolen = api.client.cookies["loomal_session"]
    response = api.client.post("/sign-out", data={"csrf": csrf}, follow_redirects=False)
    assert response.headers["location"] == "/sign-in"
    replay = TestClient(api.app)
    replay.cookies.set("loomal_session", stolen)
    assert replay.get("/credentials", follow_redirects=False).headers["location"] == "/sign-in"


def test_revoking_the_key_ends_its_sessions(api: Api) -> None:
    created = api.new_identity()
    sign_in(api.client, created.api_key)
    api.call(api.vault.identities.revoke, created.name)
    response = api.client.get("/credentials", follow_redirects=False)
    assert response.headers["location"] == "/sign-in"


def test_read_only_key_sees_no_edit_controls_and_cannot_post(api: Api) -> None:
    writer = api.new_identity()
    store(
        api, writer.api_key, "github", "TOTP", {"secret": "JBSWY3DPEHPK3PXP", "backupCodes": ["a"]}
    )
    reader_key = api.call(api.vault.identities.add_key, writer.name, scopes=["vault:read"]).api_key
    csrf = sign_in(api.client, reader_key)
    for path in ("/credentials", "/credentials/github"):
        text = api.client.get(path).text
        for control in ("Add credential", "Edit", "Delete", "Use a backup code"):
            assert control not in text, (path, control)
    assert api.client.get("/add").status_code == 403
    refused = [
        api.client.post(
            "/add", data={"csrf": csrf, "name": "x", "type": "LOGIN", "data.password": "p"}
        ),
        api.client.post(
            "/credentials/github/edit",
            data={"csrf": csrf, "type": "TOTP", "data.secret": "JBSWY3DPEHPK3PXP"},
        ),
        api.client.post("/credentials/github/delete", data={"csrf": csrf}),
        api.client.post("/credentials/github/backup-code", data={"csrf": csrf}),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403, 403]
    assert names(api, writer.api_key) == ["github"]
    code = api.client.get("/credentials/github/totp").json()
    assert code["backupCodesRemaining"] == 1


def test_login_link_signs_in_once_with_the_identitys_rights(api: Api) -> None:
    created = api.new_identity(scopes=("vault:read",))
    sessions = sessions_of(api)
    token = api.call(sessions.issue_login_link, created.name)
    form = api.client.get("/login")
    response = api.client.post(
        "/login", data={"csrf": csrf_of(form.text), "token": token}, follow_redirects=False
    )
    bound(api.client, response)
    page = api.client.get("/credentials").text
    assert f"Signed in as <strong>{created.name}</strong>" in page
    assert '<span class="scopes">vault:read</span>' in page and "Add credential" not in page
    other = TestClient(api.app)
    form = other.get("/login")
    again = other.post("/login", data={"csrf": csrf_of(form.text), "token": token})
    assert again.status_code == 401
    assert "used, expired or unknown" in again.text
    api.call(api.vault.identities.revoke, created.name)  # no live key: the session ends
    assert api.client.get("/credentials", follow_redirects=False).status_code == 303


def test_login_link_expires_and_can_be_narrowed(api: Api) -> None:
    created = api.new_identity()
    sessions = sessions_of(api)
    token = api.call(sessions.issue_login_link, created.name, ttl=1)
    sessions.clock = lambda: time.time() + 2
    form = api.client.get("/login")
    late = api.client.post("/login", data={"csrf": csrf_of(form.text), "token": token})
    assert late.status_code == 401
    sessions.clock = time.time
    narrow = api.call(sessions.issue_login_link, created.name, scopes=["vault:read"])
    form = api.client.get("/login")
    api.client.post("/login", data={"csrf": csrf_of(form.text), "token": narrow})
    assert "Add credential" not in api.client.get("/credentials").text


def test_login_link_for_vault_use_from_a_vault_read_key(api: Api) -> None:
    """vault:read implies vault:use (the API's rule): a link may ask for vault:use
    of an identity whose live keys hold vault:read, and its session can use but
    not read secrets."""
    created = api.new_identity(scopes=("vault:read",))
    sessions = sessions_of(api)
    with pytest.raises(ValidationError, match="do not grant vault:write"):
        api.call(sessions.issue_login_link, created.name, scopes=["vault:use", "vault:write"])
    token = api.call(sessions.issue_login_link, created.name, scopes=["vault:use"])
    form = api.client.get("/login")
    response = api.client.post(
        "/login", data={"csrf": csrf_of(form.text), "token": token}, follow_redirects=False
    )
    bound(api.client, response)
    page = api.client.get("/credentials")
    assert page.status_code == 200
    assert '<span class="scopes">vault:use</span>' in page.text
    writer = api.call(api.vault.identities.add_key, created.name, scopes=["vault:write"])
    assert writer  # a new key with more rights does not widen the link's session
    csrf = csrf_of(page.text)
    assert '<span class="scopes">vault:use</span>' in api.client.get("/credentials").text
    refused = api.client.post("/credentials/x/reveal", headers={"X-CSRF-Token": csrf})
    assert refused.status_code == 403


def test_failed_sign_ins_count_toward_the_api_throttle(api: Api) -> None:
    good = api.new_identity().api_key
    limit = api.settings.auth_failure_limit
    for _ in range(limit):
        form = api.client.get("/sign-in")
        bad = api.client.post("/sign-in", data={"csrf": csrf_of(form.text), "api_key": "loid-x"})
        assert bad.status_code == 401
    form = api.client.get("/sign-in")
    throttled = api.client.post("/sign-in", data={"csrf": csrf_of(form.text), "api_key": "loid-y"})
    assert throttled.status_code == 429
    api_call = api.client.get("/v0/vault", headers={"Authorization": "Bearer loid-" + "z" * 43})
    assert api_call.status_code == 429  # the same limiter as the API's
    # a valid key is never refused for others' failures (issue 15), here or on the API
    assert (
        api.client.get("/v0/vault", headers={"Authorization": f"Bearer {good}"}).status_code == 200
    )
    sign_in(api.client, good)


def test_a_throttled_address_signs_in_with_a_valid_link_or_key_only(api: Api) -> None:
    """The API's rule: the key or link is checked first; only refusals are throttled."""
    created = api.new_identity()
    token = api.call(sessions_of(api).issue_login_link, created.name)

    def post(path: str, field: str, value: str) -> Any:
        form = api.client.get(path)
        return api.client.post(
            path, data={"csrf": csrf_of(form.text), field: value}, follow_redirects=False
        )

    for _ in range(api.settings.auth_failure_limit):
        assert post("/login", "token", "lcl-wrong").status_code == 401
    # throttled: a bad link or key gets the rate-limit answer ...
    for path, field, value in (("/login", "token", "lcl-wrong"), ("/sign-in", "api_key", "x")):
        refused = post(path, field, value)
        assert refused.status_code == 429, path
        assert "Too many failed" in refused.text
    # ... and a valid link, then a valid key, sign in
    bound(api.client, post("/login", "token", token))
    assert f"Signed in as <strong>{created.name}</strong>" in api.client.get("/credentials").text
    api.client.cookies.clear()
    bound(api.client, post("/sign-in", "api_key", created.api_key))
    assert api.client.get("/credentials", follow_redirects=False).status_code == 200
    # the used link is now a refusal like any other, still throttled
    assert post("/login", "token", token).status_code == 429
    # and the throttled refusals are audited, as the API's are
    api.call(api.vault.identities.refusals.flush, final=True)

    async def refusals() -> dict[str, int]:
        rows = await api.vault.store.list_audit_events(
            identity_id=None, action="authenticate", before=None, limit=100
        )
        return {event.outcome: event.count for _, event in rows}

    assert api.call(refusals).get("rate_limited") == 3


def test_form_errors_are_shown_next_to_their_field(api: Api) -> None:
    key = api.new_identity().api_key
    csrf = sign_in(api.client, key)
    response = api.client.post(
        "/add", data={"csrf": csrf, "name": "2fa", "type": "TOTP", "data.secret": "not base32!"}
    )
    assert response.status_code == 422
    assert re.search(r'id="f-TOTP-secret-error">data.secret is not valid base32', response.text)
    assert 'aria-invalid="true"' in response.text
    bad_name = api.client.post(
        "/add", data={"csrf": csrf, "name": ".hidden", "type": "LOGIN", "data.password": SECRET}
    )
    assert 'id="e-name">name must be' in bad_name.text
    assert SECRET not in bad_name.text  # a secret typed into a refused form is not echoed
    assert names(api, key) == []


def test_otpauth_uri_and_backup_codes_from_the_form(api: Api) -> None:
    key = api.new_identity().api_key
    csrf = sign_in(api.client, key)
    uri = "otpauth://totp/GitHub:bot?secret=JBSWY3DPEHPK3PXP&digits=8&algorithm=sha256"
    api.client.post(
        "/add",
        data={
            "csrf": csrf,
            "name": "gh",
            "type": "TOTP",
            "data.secret": uri,
            "data.backupCodes": "aaaa-1111\n\n bbbb-2222 \n",
        },
    )
    page = api.client.get("/credentials/gh").text
    assert "GitHub" in page and "SHA256" in page
    code = api.client.get("/credentials/gh/totp").json()
    assert len(code["code"]) == 8 and code["backupCodesRemaining"] == 2
    sibling = api.client.get("/credentials/gh/totp", headers={"Sec-Fetch-Site": "same-site"})
    assert sibling.status_code == 401  # another port of this host is same-site, not us
    used = api.client.post("/credentials/gh/backup-code", data={"csrf": csrf})
    assert '<output class="code" id="backup-code">aaaa-1111</output>' in used.text
    assert "1 unused backup code left" in used.text


def test_qr_code_pixels_are_read_into_an_otpauth_uri(api: Api) -> None:
    key = api.new_identity().api_key
    csrf = sign_in(api.client, key)
    uri = "otpauth://totp/Example:me?secret=JBSWY3DPEHPK3PXP&issuer=Example"
    image = zxingcpp.create_barcode(uri, zxingcpp.BarcodeFormat.QRCode).to_image(scale=4)
    # zxingcpp's stub leaves out the buffer protocol its Image implements.
    buffer = cast("Buffer", image)
    height, width = memoryview(buffer).shape or (0, 0)
    pixels = bytes(memoryview(buffer))
    answer = api.client.post(
        f"/qr?width={width}&height={height}", content=pixels, headers={"X-CSRF-Token": csrf}
    )
    assert answer.json() == {"uri": uri}
    blank = api.client.post(
        "/qr?width=10&height=10", content=b"\xff" * 100, headers={"X-CSRF-Token": csrf}
    )
    assert blank.status_code == 422 and "No QR code" in blank.json()["message"]
    assert api.client.post(f"/qr?width={width}&height={height}", content=pixels).status_code == 403


def test_no_secret_reaches_a_log_line(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    key = api.new_identity().api_key
    csrf = sign_in(api.client, key)
    api.client.post(
        "/add", data={"csrf": csrf, "name": "x", "type": "LOGIN", "data.password": SECRET}
    )
    api.client.post("/credentials/x/reveal", headers={"X-CSRF-Token": csrf})
    api.client.post("/sign-in", data={"csrf": "x", "api_key": SECRET})
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert SECRET not in text and key not in text and csrf not in text


def test_list_badges_expired_and_expiring_credentials(api: Api) -> None:
    key = api.new_identity().api_key
    sign_in(api.client, key)
    principal = api.call(api.vault.identities.authenticate, f"Bearer {key}")
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3 * 86400))
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 30 * 86400))
    past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    for name, expires in (("soon", soon), ("later", later), ("past", past)):
        request = StoreRequest("LOGIN", {"password": SECRET}, expires_at=expires)
        api.call(api.vault.service.store_credential, principal, name, request)
    rows = dict(
        re.findall(
            r'<a href="/credentials/(\w+)">\w+</a> ([^<]*(?:<span[^>]*>[^<]*)?)',
            api.client.get("/credentials").text,
        )
    )
    assert "Expires within 7 days" in rows["soon"]
    assert "Expired" in rows["past"]
    assert "badge" not in rows["later"]
    only_login = api.client.get("/credentials", params={"type": "TOTP"}).text
    assert "No credential matches this search." in only_login


def code_is_of(answer: dict[str, Any], seed: str) -> bool:
    """Whether a /totp answer is the code of ``seed`` for the period it names."""
    ends = datetime.fromisoformat(answer["expiresAt"].replace("Z", "+00:00")).timestamp()
    return bool(answer["code"] == totp_code(seed, at=ends - 1).code)


def edit_fields(api: Api, name: str, **changes: str) -> dict[str, str]:
    """The edit form of ``name`` as a browser posts it, with ``changes`` typed in."""
    fields = posted_fields(api.client.get(f"/credentials/{name}/edit").text)
    return {**fields, **{k.replace("__", "."): v for k, v in changes.items()}}


def test_edit_keeps_blank_secrets_and_the_totp_seed(api: Api) -> None:
    key = api.new_identity().api_key
    csrf = sign_in(api.client, key)
    store(api, key, "mail", "SMTP", {"password": SECRET})
    edited = api.client.post(
        "/credentials/mail/edit",
        data=edit_fields(api, "mail", metadata__host="smtp.example"),
        follow_redirects=False,
    )
    assert edited.headers["location"] == "/credentials/mail"
    revealed = api.client.post("/credentials/mail/reveal", headers={"X-CSRF-Token": csrf})
    assert revealed.json()["data"] == {"password": SECRET}
    assert "smtp.example" in api.client.get("/credentials/mail").text

    store(api, key, "2fa", "TOTP", {"secret": "JBSWY3DPEHPK3PXP", "backupCodes": ["a", "b"]})
    again = api.client.post(
        "/credentials/2fa/edit",
        data=edit_fields(api, "2fa", metadata__issuer="Example"),
        follow_redirects=False,
    )
    assert again.status_code == 303  # the seed was never in the form, and is kept
    assert code_is_of(api.client.get("/credentials/2fa/totp").json(), "JBSWY3DPEHPK3PXP")
    data = api.client.post("/credentials/2fa/reveal", headers={"X-CSRF-Token": csrf}).json()
    assert data["data"]["backupCodes"] == ["a", "b"]  # blank backup codes kept


@pytest.mark.slow
def test_login_link_command_refuses_unknown_identities(tmp_path: Any) -> None:
    from tests.conftest import create_store, loomal

    create_store(tmp_path / "d")
    result = loomal(
        "identity", "login-link", "nobody", "--data-dir", str(tmp_path / "d"), cwd=tmp_path
    )
    assert result.returncode == 1
    assert "No identity named 'nobody'" in result.stderr


@pytest.mark.slow
def test_sessions_hold_across_workers(tmp_path: Any) -> None:
    """Sessions live in the store: with --workers 2 every request, on new
    connections (so on either worker), is signed in, and a sign-out ends it on both."""
    import httpx

    from tests.conftest import start_server

    server = start_server("--workers", "2", "--data-dir", str(tmp_path / "d"), cwd=tmp_path)
    try:
        assert server.api_key is not None
        fresh = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=server.base_url, limits=fresh) as client:
            form = client.get("/sign-in")
            client.post("/sign-in", data={"csrf": csrf_of(form.text), "api_key": server.api_key})
            pages = [client.get("/credentials", follow_redirects=False) for _ in range(20)]
            assert {p.status_code for p in pages} == {200}
            csrf = csrf_of(pages[0].text)
            stolen = client.cookies["loomal_session"]
            client.post("/sign-out", data={"csrf": csrf})
            client.cookies.set("loomal_session", stolen)  # replayed on both workers
            after = [client.get("/credentials", follow_redirects=False) for _ in range(6)]
            assert {p.status_code for p in after} == {303}
    finally:
        server.stop()


def test_edit_keeps_fields_the_form_does_not_show_and_spaces_in_secrets(api: Api) -> None:
    key = api.new_identity().api_key
    csrf = sign_in(api.client, key)
    store(api, key, "site", "LOGIN", {"password": SECRET, "note": "kept as given"})
    api.client.post(
        "/credentials/site/edit", data=edit_fields(api, "site", data__password="  spaced out  ")
    )
    data = api.client.post("/credentials/site/reveal", headers={"X-CSRF-Token": csrf}).json()
    assert data["data"] == {"password": "  spaced out  ", "note": "kept as given"}
    api.client.post(  # any type may hold a seed: a CARD here
        "/add",
        data={
            "csrf": csrf,
            "name": "card",
            "type": "CARD",
            "data.number": "4242424242424242",
            "data.totp": "jbsw y3dp ehpk 3pxp",
        },
    )
    blank = api.client.post(
        "/credentials/card/edit",
        data=edit_fields(api, "card", data__cvc="999"),
        follow_redirects=False,
    )
    assert blank.status_code == 303  # a blank seed field keeps the seed
    assert code_is_of(api.client.get("/credentials/card/totp").json(), "JBSWY3DPEHPK3PXP")
