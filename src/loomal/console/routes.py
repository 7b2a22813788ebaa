"""The console's credential pages and calls: read the session and the form,
call :class:`VaultService` with the session's principal, render a page.

Scopes, names, validation and the audit log are therefore the API's own.
Secrets are fetched by the page's script (Reveal, TOTP) and never sit in a URL,
a title or the first HTML of a page.
"""

from __future__ import annotations

from importlib import resources

from litestar import Response, get, post

from loomal.console import oauth_pages, pages
from loomal.console.access_requests import REQUEST_ROUTES
from loomal.console.activity import ACTIVITY_ROUTES
from loomal.console.adding import ADD_ROUTES
from loomal.console.approval_pages import APPROVAL_ROUTES
from loomal.console.editing import EDIT_ROUTES, find_summary
from loomal.console.fleet import FLEET_ROUTES
from loomal.console.history import HISTORY_ROUTES, history_section
from loomal.console.qr import MAX_SIDE, decode_otpauth_qr
from loomal.console.sessions import ConsoleSession
from loomal.console.sign_in import SIGN_IN_ROUTES
from loomal.console.web import (
    HEADERS,
    Name,
    Number,
    Req,
    Text,
    authorised_post,
    current_session,
    error_page,
    html_response,
    json_response,
    read_body,
    redirect,
    same_origin,
    vault_of,
)
from loomal.core.models import ConnectRequest, CredentialSummary
from loomal.core.principals import Scope
from loomal.errors import (
    LoomalError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from loomal.oauth.connect import CONNECT_SECONDS
from loomal.runtime import RunningVault

__all__ = ["CONSOLE_ROUTES"]

_STATIC = {
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}
_static_cache: dict[str, bytes] = {}


# -- credentials -------------------------------------------------------------------


async def _all_summaries(vault: RunningVault, session: ConsoleSession) -> list[CredentialSummary]:
    return (await vault.service.list_credentials(session.principal)).credentials


@get("/credentials", include_in_schema=False)
async def credentials(request: Req, q: Text = "", type: Text = "") -> Response[bytes]:  # noqa: A002
    session = await current_session(request)
    if session is None:
        return redirect("/sign-in")
    try:
        everything = await _all_summaries(vault_of(request), session)
    except LoomalError as error:
        return error_page(session, error)
    shown = [
        s
        for s in everything
        if (not type or s.type == type) and (q.strip().lower() in s.name.lower())
    ]
    page = pages.credentials_page(session, shown, total=len(everything), type_filter=type, query=q)
    return html_response(page)


@get("/credentials/{name:str}", include_in_schema=False)
async def credential(request: Req, name: Name) -> Response[bytes]:
    session = await current_session(request)
    if session is None:
        return redirect("/sign-in")
    vault = vault_of(request)
    try:
        summary = await find_summary(vault, session, name)
        outline = await vault.service.outline(session.principal, name)
        history = await vault.service.list_versions(session.principal, name)
    except LoomalError as error:
        return error_page(session, error)
    card = oauth_pages.oauth_card(session, summary)
    page = pages.credential_page(
        session, summary, outline, extra=card, history=history_section(session, history)
    )
    return html_response(page)


@post("/credentials/{name:str}/reveal", include_in_schema=False, status_code=200)
async def reveal(request: Req, name: Name) -> Response[bytes]:
    """The secret fields, for the page's script (POST: it is audited and marks use)."""
    checked = await authorised_post(request)
    if isinstance(checked, Response):
        return json_response({"error": "forbidden", "message": "Reload the page."}, 403)
    session, _ = checked
    try:
        got = await vault_of(request).service.get_credential(session.principal, name)
    except LoomalError as error:
        return json_response({"error": error.code, "message": error.message}, error.http_status)
    return json_response({"data": got.data, "hasTOTP": got.has_totp})


@get("/credentials/{name:str}/totp", include_in_schema=False)
async def totp(request: Req, name: Name) -> Response[bytes]:
    session = await current_session(request, badge=False)
    if session is None or not same_origin(request):  # a sibling port is "same-site"
        return json_response(
            {"error": "unauthorized", "message": "Signed out.", "status": 401}, 401
        )
    try:
        code = await vault_of(request).service.totp(session.principal, name)
    except LoomalError as error:
        return json_response({"error": error.code, "message": error.message}, error.http_status)
    return json_response(code)


@post(
    "/qr",
    include_in_schema=False,
    status_code=200,
    request_max_body_size=MAX_SIDE * MAX_SIDE,
)
async def read_qr(request: Req, width: Number, height: Number) -> Response[bytes]:
    """Read an otpauth:// URI from a QR image the page's script decoded to grey pixels."""
    session = await current_session(request, badge=False)
    presented = request.headers.get("x-csrf-token")
    if session is None or not same_origin(request) or not session.csrf_matches(presented):
        return json_response({"error": "forbidden", "message": "Reload the page."}, 403)
    try:
        uri = decode_otpauth_qr(await read_body(request), width=width, height=height)
    except ValidationError as error:
        return json_response({"error": error.code, "message": error.message}, 422)
    return json_response({"uri": uri})


@post("/credentials/{name:str}/connect", include_in_schema=False, status_code=200)
async def connect(request: Req, name: Name) -> Response[bytes]:
    """Start the OAuth connect flow with the stored client settings."""
    checked = await authorised_post(request)
    if isinstance(checked, Response):
        return checked
    session, _ = checked
    try:
        started = await vault_of(request).oauth_connect.start(
            session.principal, name, ConnectRequest()
        )
    except LoomalError as error:
        return error_page(session, error)
    minutes = CONNECT_SECONDS // 60
    return html_response(oauth_pages.connect_page(session, name, started.authorize_url, minutes))


@get("/credentials/{name:str}/delete", include_in_schema=False)
async def confirm_delete(request: Req, name: Name) -> Response[bytes]:
    session = await current_session(request)
    if session is None:
        return redirect("/sign-in")
    page = pages.confirm_page(
        session,
        title=f"Delete {name}?",
        question=f"Delete the credential “{name}”? Agents using it lose it at once. "
        "You can undelete it from Recently deleted for "
        f"{vault_of(request).settings.deleted_retention_days:g} days.",
        action=f"/credentials/{name}/delete",
        button=f"Delete {name}",
        cancel=f"/credentials/{name}",
    )
    return html_response(page)


@post("/credentials/{name:str}/delete", include_in_schema=False, status_code=303)
async def delete(request: Req, name: Name) -> Response[bytes]:
    checked = await authorised_post(request)
    if isinstance(checked, Response):
        return checked
    session, _ = checked
    try:
        await vault_of(request).service.delete_credential(session.principal, name)
    except LoomalError as error:
        return error_page(session, error)
    return redirect("/credentials")


@get("/credentials/{name:str}/backup-code", include_in_schema=False)
async def confirm_backup(request: Req, name: Name) -> Response[bytes]:
    session = await current_session(request)
    if session is None:
        return redirect("/sign-in")
    try:
        if not session.can(Scope.WRITE):
            raise PermissionDeniedError("This key may not use backup codes (no vault:write).")
        outline = await vault_of(request).service.outline(session.principal, name)
    except LoomalError as error:
        return error_page(session, error)
    if outline.backup_codes_remaining == 0:
        message = f"“{name}” has no unused backup codes left: nothing was used."
        page = pages.message_page("No backup codes left", message, session)
        return html_response(page, status=409)
    page = pages.confirm_page(
        session,
        title="Use a backup code",
        question=f"Use one backup code of “{name}”? It is shown once, then counted as used.",
        action=f"/credentials/{name}/backup-code",
        button="Use a backup code",
        cancel=f"/credentials/{name}",
    )
    return html_response(page)


@post("/credentials/{name:str}/backup-code", include_in_schema=False, status_code=200)
async def use_backup(request: Req, name: Name) -> Response[bytes]:
    """Pop one backup code and show it. The page needs nothing but the pop's own
    answer (vault:write), so no other call can fail after a code was handed out:
    a popped code is never lost to a refusal."""
    checked = await authorised_post(request)
    if isinstance(checked, Response):
        return checked
    session, _ = checked
    try:
        backup = await vault_of(request).service.totp_use_backup(session.principal, name)
    except LoomalError as error:
        return error_page(session, error)
    return html_response(pages.backup_code_page(session, name, backup.code, backup.remaining))


# -- static files -------------------------------------------------------------------


@get("/static/{file:str}", include_in_schema=False)
async def static(file: Name) -> Response[bytes]:
    if file not in _STATIC:
        raise NotFoundError("No such file.")
    if file not in _static_cache:
        _static_cache[file] = (
            resources.files("loomal.console").joinpath("static", file).read_bytes()
        )
    return Response(_static_cache[file], media_type=_STATIC[file], headers=HEADERS)


CONSOLE_ROUTES = [
    *SIGN_IN_ROUTES,
    credentials,
    *ADD_ROUTES,
    read_qr,
    credential,
    reveal,
    totp,
    *EDIT_ROUTES,
    *HISTORY_ROUTES,
    connect,
    confirm_delete,
    delete,
    confirm_backup,
    use_backup,
    *ACTIVITY_ROUTES,
    *APPROVAL_ROUTES,
    *REQUEST_ROUTES,
    *FLEET_ROUTES,
    static,
]
