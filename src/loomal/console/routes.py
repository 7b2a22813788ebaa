"""The console's routes: read the cookie and the form, call the core, render a page.

Every use case goes through :class:`VaultService` with the session's principal,
so scopes, names, validation and the audit log are the API's own. What is
added here is the browser's side of security:

- every response carries a strict CSP (no inline script or style, no framing),
  ``Cache-Control: no-store`` (added by the app to every response) and
  ``X-Frame-Options: DENY``;
- every POST must come from this origin (``Origin``/``Sec-Fetch-Site``) and carry
  the session's CSRF token (sign-in forms: a double-submit token);
- secrets are fetched by the page's script (Reveal, TOTP) and never sit in a
  URL, a title or the first HTML of a page.
"""

from __future__ import annotations

import secrets
from importlib import resources
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import Parameter

from loomal.console import pages
from loomal.console.forms import FIELDS, FormErrors, field_of_error, request_from_form
from loomal.console.markup import Html
from loomal.console.qr import MAX_SIDE, decode_otpauth_qr
from loomal.console.sessions import ConsoleSession, ConsoleSessions
from loomal.core.identity import Scope
from loomal.core.models import CredentialSummary
from loomal.errors import (
    AuthenticationError,
    LoomalError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ValidationError,
)
from loomal.runtime import Vault

__all__ = ["CONSOLE_ROUTES", "CSP"]

SESSION_COOKIE = "loomal_session"
SIGN_IN_COOKIE = "loomal_signin"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
_HEADERS = {"content-security-policy": CSP, "x-frame-options": "DENY"}
_encode = msgspec.json.Encoder().encode
_STATIC = {
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}
_static_cache: dict[str, bytes] = {}

Req = Request[Any, Any, Any]
Name = Annotated[str, Parameter()]
Text = Annotated[str, Parameter()]
Number = Annotated[int, Parameter()]


def _vault(request: Req) -> Vault:
    vault: Vault = request.app.state.vault
    return vault


def _sessions(request: Req) -> ConsoleSessions:
    state = request.app.state
    if getattr(state, "console_sessions", None) is None:
        vault = _vault(request)
        state.console_sessions = ConsoleSessions(vault.store, vault.identities)
    sessions: ConsoleSessions = state.console_sessions
    return sessions


def _client(request: Req) -> str:
    return request.client.host if request.client else ""


def _secure(request: Req) -> bool:
    """Cookies are marked Secure when the browser reached us over TLS (directly,
    or through a proxy that says so)."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def _cookie(request: Req, key: str, value: str, max_age: int | None) -> Cookie:
    return Cookie(
        key=key,
        value=value,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        max_age=max_age,
    )


def _html(page: Html, *, status: int = 200, cookies: list[Cookie] | None = None) -> Response[bytes]:
    return Response(
        page.encode(),
        status_code=status,
        media_type="text/html",
        headers=_HEADERS,
        cookies=cookies or [],
    )


def _json(value: Any, status: int = 200) -> Response[bytes]:
    return Response(
        _encode(value), status_code=status, media_type="application/json", headers=_HEADERS
    )


def _redirect(location: str, cookies: list[Cookie] | None = None) -> Response[bytes]:
    return Response(
        b"", status_code=303, headers={**_HEADERS, "location": location}, cookies=cookies or []
    )


async def _session(request: Req) -> ConsoleSession | None:
    return await _sessions(request).resume(
        request.cookies.get(SESSION_COOKIE), client=_client(request)
    )


def _same_origin(request: Req) -> bool:
    """A browser says where a POST comes from; anything from another origin is refused.

    Sec-Fetch-Site is trusted when sent (every current browser sends it). Under our
    ``no-referrer`` policy a browser may send ``Origin: null``, so only a real
    foreign origin is refused from that header; the CSRF token is checked anyway.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    return origin in (None, "null", f"{request.url.scheme}://{request.url.netloc}")


async def _form(request: Req) -> dict[str, str]:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


async def _authorised_post(
    request: Req,
) -> tuple[ConsoleSession, dict[str, str]] | Response[bytes]:
    """The session and form of a state-changing POST, or the page that refuses it."""
    session = await _session(request)
    if session is None:
        return _redirect("/sign-in")
    form = await _form(request)
    presented = form.get("csrf") or request.headers.get("x-csrf-token")
    if not _same_origin(request) or not session.csrf_matches(presented):
        return _html(
            pages.message_page(
                "Request refused",
                "This form is out of date or came from another site. Reload the page and retry.",
                session,
            ),
            status=403,
        )
    return session, form


def _error_page(session: ConsoleSession | None, error: LoomalError) -> Response[bytes]:
    titles = {403: "Not allowed", 404: "Not found", 410: "Expired", 429: "Slow down"}
    title = titles.get(error.http_status, "Something went wrong")
    return _html(pages.message_page(title, error.message, session), status=error.http_status)


# -- signing in and out -----------------------------------------------------------


@get("/", include_in_schema=False)
async def home(request: Req) -> Response[bytes]:
    return _redirect("/credentials" if await _session(request) else "/sign-in")


def _sign_in_form(request: Req, page: Any, error: str | None, status: int) -> Response[bytes]:
    token = secrets.token_urlsafe(24)
    cookie = _cookie(request, SIGN_IN_COOKIE, token, max_age=3600)
    return _html(page(token, error), status=status, cookies=[cookie])


@get("/sign-in", include_in_schema=False)
async def sign_in_form(request: Req) -> Response[bytes]:
    if await _session(request):
        return _redirect("/credentials")
    return _sign_in_form(request, pages.sign_in_page, None, 200)


@get("/login", include_in_schema=False)
async def login_link_form(request: Req) -> Response[bytes]:
    return _sign_in_form(request, pages.login_link_page, None, 200)


async def _sign_in(request: Req, field: str, page: Any) -> Response[bytes]:
    form = await _form(request)
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    presented = form.get("csrf", "")
    if not (_same_origin(request) and expected and secrets.compare_digest(expected, presented)):
        return _sign_in_form(request, page, "The form expired; please try again.", 403)
    sessions = _sessions(request)
    try:
        if field == "api_key":
            session_id = await sessions.sign_in_with_key(
                form.get(field, ""), client=_client(request)
            )
        else:
            session_id = await sessions.sign_in_with_link(
                form.get(field, "").strip(), client=_client(request)
            )
    except (AuthenticationError, RateLimitError) as error:
        status = 429 if isinstance(error, RateLimitError) else 401
        message = error.message if status == 429 or field != "api_key" else "Invalid API key."
        return _sign_in_form(request, page, message, status)
    cookie = _cookie(request, SESSION_COOKIE, session_id, max_age=None)
    clear = _cookie(request, SIGN_IN_COOKIE, "", max_age=0)
    return _redirect("/credentials", cookies=[cookie, clear])


@post("/sign-in", include_in_schema=False, status_code=303)
async def sign_in(request: Req) -> Response[bytes]:
    return await _sign_in(request, "api_key", pages.sign_in_page)


@post("/login", include_in_schema=False, status_code=303)
async def login_with_link(request: Req) -> Response[bytes]:
    return await _sign_in(request, "token", pages.login_link_page)


@post("/sign-out", include_in_schema=False, status_code=303)
async def sign_out(request: Req) -> Response[bytes]:
    checked = await _authorised_post(request)
    if isinstance(checked, Response):
        return checked
    await _sessions(request).sign_out(request.cookies.get(SESSION_COOKIE))
    return _redirect("/sign-in", cookies=[_cookie(request, SESSION_COOKIE, "", max_age=0)])


# -- credentials -------------------------------------------------------------------


async def _all_summaries(vault: Vault, session: ConsoleSession) -> list[CredentialSummary]:
    summaries: list[CredentialSummary] = []
    cursor = None
    while True:
        page = await vault.service.list_credentials(session.principal, limit=1000, cursor=cursor)
        summaries += page.credentials
        cursor = page.next_cursor
        if cursor is None:
            return summaries


async def _summary(vault: Vault, session: ConsoleSession, name: Name) -> CredentialSummary:
    for summary in await _all_summaries(vault, session):
        if summary.name == name:
            return summary
    raise NotFoundError(f"No credential named {name!r}.")


@get("/credentials", include_in_schema=False)
async def credentials(request: Req, q: Text = "", type: Text = "") -> Response[bytes]:  # noqa: A002
    session = await _session(request)
    if session is None:
        return _redirect("/sign-in")
    try:
        everything = await _all_summaries(_vault(request), session)
    except LoomalError as error:
        return _error_page(session, error)
    shown = [
        s
        for s in everything
        if (not type or s.type == type) and (q.strip().lower() in s.name.lower())
    ]
    page = pages.credentials_page(session, shown, total=len(everything), type_filter=type, query=q)
    return _html(page)


@get("/credentials/{name:str}", include_in_schema=False)
async def credential(request: Req, name: Name) -> Response[bytes]:
    session = await _session(request)
    if session is None:
        return _redirect("/sign-in")
    try:
        summary = await _summary(_vault(request), session, name)
    except LoomalError as error:
        return _error_page(session, error)
    return _html(pages.credential_page(session, summary))


@post("/credentials/{name:str}/reveal", include_in_schema=False, status_code=200)
async def reveal(request: Req, name: Name) -> Response[bytes]:
    """The secret fields, for the page's script (POST: it is audited and marks use)."""
    checked = await _authorised_post(request)
    if isinstance(checked, Response):
        return _json({"error": "forbidden", "message": "Reload the page."}, 403)
    session, _ = checked
    try:
        got = await _vault(request).service.get_credential(session.principal, name)
    except LoomalError as error:
        return _json({"error": error.code, "message": error.message}, error.http_status)
    return _json({"data": got.data})


@get("/credentials/{name:str}/totp", include_in_schema=False)
async def totp(request: Req, name: Name) -> Response[bytes]:
    session = await _session(request)
    if session is None:
        return _json({"error": "unauthenticated", "message": "Signed out."}, 401)
    try:
        code = await _vault(request).service.totp(session.principal, name)
    except LoomalError as error:
        return _json({"error": error.code, "message": error.message}, error.http_status)
    return _json(code)


@post(
    "/qr",
    include_in_schema=False,
    status_code=200,
    request_max_body_size=MAX_SIDE * MAX_SIDE,
)
async def read_qr(request: Req, width: Number, height: Number) -> Response[bytes]:
    """Read an otpauth:// URI from a QR image the page's script decoded to grey pixels."""
    session = await _session(request)
    presented = request.headers.get("x-csrf-token")
    if session is None or not _same_origin(request) or not session.csrf_matches(presented):
        return _json({"error": "forbidden", "message": "Reload the page."}, 403)
    try:
        uri = decode_otpauth_qr(await request.body(), width=width, height=height)
    except ValidationError as error:
        return _json({"error": error.code, "message": error.message}, 422)
    return _json({"uri": uri})


def _form_values(summary: CredentialSummary) -> dict[str, str]:
    values = {"name": summary.name}
    for field in FIELDS.get(summary.type, ()):
        value = summary.metadata.get(field.key) if field.section == "metadata" else None
        if value is not None:
            values[field.form_name] = str(value)
    if summary.expires_at is not None:
        values["expiresAt"] = summary.expires_at.strftime("%Y-%m-%d")
    return values


@get("/add", include_in_schema=False)
async def new_form(request: Req, type: Text = "LOGIN") -> Response[bytes]:  # noqa: A002
    session = await _session(request)
    if session is None:
        return _redirect("/sign-in")
    if not session.can(Scope.WRITE):
        return _error_page(session, PermissionDeniedError("This key may not add credentials."))
    ctype = type if type in FIELDS else "LOGIN"
    return _html(pages.form_page(session, ctype=ctype, values={}, errors={}))


@get("/credentials/{name:str}/edit", include_in_schema=False)
async def edit_form(request: Req, name: Name) -> Response[bytes]:
    session = await _session(request)
    if session is None:
        return _redirect("/sign-in")
    try:
        if not session.can(Scope.WRITE):
            raise PermissionDeniedError("This key may not change credentials.")
        summary = await _summary(_vault(request), session, name)
    except LoomalError as error:
        return _error_page(session, error)
    custom_keys: list[str] = []
    if summary.type == "CUSTOM":  # field names are shown, their values stay blank
        got = await _vault(request).service.get_credential(session.principal, name)
        custom_keys = sorted(got.data)
    page = pages.form_page(
        session,
        ctype=summary.type,
        values=_form_values(summary),
        errors={},
        editing=name,
        custom_keys=custom_keys,
    )
    return _html(page)


async def _save(request: Req, editing: str | None) -> Response[bytes]:
    checked = await _authorised_post(request)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    vault = _vault(request)
    ctype = form.get("type", "")
    if editing is not None:
        form["name"] = editing
    try:
        existing = None
        if editing is not None:
            existing = (await vault.service.get_credential(session.principal, editing)).data
        name, store_request = request_from_form(form, existing)
        await vault.service.store_credential(session.principal, name, store_request)
    except FormErrors as invalid:
        errors = invalid.errors
    except ValidationError as error:
        errors = {field_of_error(error.message, ctype): error.message}
    except LoomalError as error:
        return _error_page(session, error)
    else:
        return _redirect(f"/credentials/{name}")
    keys = [form[k] for k in sorted(form) if k.startswith("custom.") and k.endswith(".key")]
    page = pages.form_page(
        session,
        ctype=ctype if ctype in FIELDS else "LOGIN",
        values=form,
        errors=errors,
        editing=editing,
        custom_keys=[k for k in keys if k.strip()],
    )
    return _html(page, status=422)


@post("/add", include_in_schema=False, status_code=303)
async def create(request: Req) -> Response[bytes]:
    return await _save(request, None)


@post("/credentials/{name:str}/edit", include_in_schema=False, status_code=303)
async def update(request: Req, name: Name) -> Response[bytes]:
    return await _save(request, name)


@get("/credentials/{name:str}/delete", include_in_schema=False)
async def confirm_delete(request: Req, name: Name) -> Response[bytes]:
    session = await _session(request)
    if session is None:
        return _redirect("/sign-in")
    page = pages.confirm_page(
        session,
        title=f"Delete {name}?",
        question=f"Delete the credential “{name}”? Agents using it lose it at once. "
        "This cannot be undone.",
        action=f"/credentials/{name}/delete",
        button=f"Delete {name}",
        cancel=f"/credentials/{name}",
    )
    return _html(page)


@post("/credentials/{name:str}/delete", include_in_schema=False, status_code=303)
async def delete(request: Req, name: Name) -> Response[bytes]:
    checked = await _authorised_post(request)
    if isinstance(checked, Response):
        return checked
    session, _ = checked
    try:
        await _vault(request).service.delete_credential(session.principal, name)
    except LoomalError as error:
        return _error_page(session, error)
    return _redirect("/credentials")


@get("/credentials/{name:str}/backup-code", include_in_schema=False)
async def confirm_backup(request: Req, name: Name) -> Response[bytes]:
    session = await _session(request)
    if session is None:
        return _redirect("/sign-in")
    page = pages.confirm_page(
        session,
        title="Use a backup code",
        question=f"Use one backup code of “{name}”? It is shown once, then counted as used.",
        action=f"/credentials/{name}/backup-code",
        button="Use a backup code",
        cancel=f"/credentials/{name}",
    )
    return _html(page)


@post("/credentials/{name:str}/backup-code", include_in_schema=False, status_code=200)
async def use_backup(request: Req, name: Name) -> Response[bytes]:
    checked = await _authorised_post(request)
    if isinstance(checked, Response):
        return checked
    session, _ = checked
    service = _vault(request).service
    try:
        backup = await service.pop_backup_code(session.principal, name)
        used = (await service.get_credential(session.principal, name)).data.get(
            "usedBackupCodes", []
        )
    except LoomalError as error:
        return _error_page(session, error)
    remaining = backup.backup_codes_remaining
    return _html(pages.backup_code_page(session, name, backup.code, remaining, used))


# -- activity and static files ----------------------------------------------------


@get("/activity", include_in_schema=False)
async def activity(
    request: Req, cursor: Annotated[str | None, Parameter()] = None
) -> Response[bytes]:
    session = await _session(request)
    if session is None:
        return _redirect("/sign-in")
    try:
        page = await _vault(request).service.audit_log(session.principal, limit=50, cursor=cursor)
    except LoomalError as error:
        return _error_page(session, error)
    return _html(pages.activity_page(session, page.events, page.next_cursor))


@get("/static/{file:str}", include_in_schema=False)
async def static(file: Name) -> Response[bytes]:
    if file not in _STATIC:
        raise NotFoundError("No such file.")
    if file not in _static_cache:
        _static_cache[file] = (
            resources.files("loomal.console").joinpath("static", file).read_bytes()
        )
    return Response(_static_cache[file], media_type=_STATIC[file], headers=_HEADERS)


CONSOLE_ROUTES = [
    home,
    sign_in_form,
    sign_in,
    login_link_form,
    login_with_link,
    sign_out,
    credentials,
    new_form,
    create,
    read_qr,
    credential,
    reveal,
    totp,
    edit_form,
    update,
    confirm_delete,
    delete,
    confirm_backup,
    use_backup,
    activity,
    static,
]
