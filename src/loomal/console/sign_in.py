"""Signing in (with an API key, or a one-time link's token) and out.

Both sign-in forms carry a double-submit token (a random value in an
``HttpOnly`` ``SameSite=Strict`` cookie and in the form), and failures count
toward the API's per-address throttle (:class:`ConsoleSessions`).

A sign-in is answered by a page, not a redirect: it hands the new session's
binding to the tab's script (see :mod:`loomal.console.web`), which keeps it and
goes on to the credentials. A sign-in link opened while another identity is
signed in (a link someone sent, which its page submits by itself) opens its
session aside, and asks first, naming both identities; only a confirmed switch
replaces the session.

A platform key (``lopk-...``) in the key field opens a platform session, which
goes to the Identities pages (:mod:`loomal.console.fleet`) and nowhere else.
"""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Response, get, post

from loomal.console import pages
from loomal.console.sessions import AnySession, PlatformConsoleSession, is_platform_key
from loomal.console.web import (
    PENDING_COOKIE,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    Req,
    checked_post,
    client_of,
    cookie_of,
    current_platform_session,
    current_session,
    html_response,
    make_cookie,
    read_form,
    redirect,
    same_origin,
    sessions_of,
)
from loomal.errors import AuthenticationError, RateLimitError

__all__ = ["SIGN_IN_ROUTES"]


async def _either_session(request: Req) -> AnySession | None:
    """This browser's session, an identity's or a platform key's."""
    return await current_session(request) or await current_platform_session(request)


def _name_of(session: AnySession) -> str:
    if isinstance(session, PlatformConsoleSession):
        return f"platform key {session.principal.name}"
    return session.identity_name


async def _either_post(
    request: Req, *, bound: bool
) -> tuple[AnySession, dict[str, str]] | Response[bytes]:
    session = await _either_session(request)
    if session is None:
        return redirect("/sign-in")
    return await checked_post(request, session, bound=bound)


async def _landing(request: Req) -> str | None:
    """Where this browser's session belongs: its credentials, or the identities of a
    platform session; None when signed out."""
    if await current_session(request):
        return "/credentials"
    if await current_platform_session(request):
        return "/identities"
    return None


@get("/", include_in_schema=False)
async def home(request: Req) -> Response[bytes]:
    return redirect(await _landing(request) or "/sign-in")


def _sign_in_form(request: Req, page: Any, error: str | None, status: int) -> Response[bytes]:
    token = secrets.token_urlsafe(24)
    cookie = make_cookie(request, SIGN_IN_COOKIE, token, max_age=3600)
    return html_response(page(token, error), status=status, cookies=[cookie])


@get("/sign-in", include_in_schema=False)
async def sign_in_form(request: Req) -> Response[bytes]:
    landing = await _landing(request)
    if landing:
        return redirect(landing)
    return _sign_in_form(request, pages.sign_in_page, None, 200)


@get("/login", include_in_schema=False)
async def login_link_form(request: Req) -> Response[bytes]:
    return _sign_in_form(request, pages.login_link_page, None, 200)


async def _sign_in(request: Req, field: str, page: Any) -> Response[bytes]:
    form = await read_form(request)
    expected = cookie_of(request, SIGN_IN_COOKIE) or ""
    presented = form.get("csrf", "")
    if not (same_origin(request) and expected and secrets.compare_digest(expected, presented)):
        return _sign_in_form(request, page, "The form expired; please try again.", 403)
    sessions = sessions_of(request)
    try:
        if field == "api_key" and is_platform_key(form.get(field, "")):
            session_id = await sessions.sign_in_with_platform_key(
                form.get(field, ""), client=client_of(request)
            )
        elif field == "api_key":
            session_id = await sessions.sign_in_with_key(
                form.get(field, ""), client=client_of(request)
            )
        else:
            session_id = await sessions.sign_in_with_link(
                form.get(field, "").strip(), client=client_of(request)
            )
    except (AuthenticationError, RateLimitError) as error:
        status = 429 if isinstance(error, RateLimitError) else 401
        message = error.message if status == 429 or field != "api_key" else "Invalid API key."
        return _sign_in_form(request, page, message, status)
    if field == "token":
        current = await _either_session(request)
        opened = await sessions.resume(session_id, client=client_of(request))
        if current and opened and _name_of(current) != opened.identity_name:
            pending = make_cookie(request, PENDING_COOKIE, session_id, max_age=_PENDING_AGE)
            page_html = pages.switch_page(current, opened.identity_name)
            return html_response(page_html, cookies=[pending])
    return await _signed_in(request, session_id)


_PENDING_AGE = 300


async def _signed_in(request: Req, session_id: str) -> Response[bytes]:
    """Make ``session_id`` this browser's session (one per browser) and hand its
    binding to the tab."""
    sessions = sessions_of(request)
    await sessions.sign_out(cookie_of(request, SESSION_COOKIE))
    cookies = [
        make_cookie(request, SESSION_COOKIE, session_id, max_age=None),
        make_cookie(request, SIGN_IN_COOKIE, "", max_age=0),
        make_cookie(request, PENDING_COOKIE, "", max_age=0),
    ]
    session: AnySession | None = await sessions.resume(session_id, client=client_of(request))
    if session is None:
        session = await sessions.resume_platform(session_id, client=client_of(request))
    if session is None:  # its keys went away this very moment
        return redirect("/sign-in", cookies=cookies[:1])
    return html_response(pages.signed_in_page(session), cookies=cookies)


@post("/sign-in", include_in_schema=False, status_code=200)
async def sign_in(request: Req) -> Response[bytes]:
    return await _sign_in(request, "api_key", pages.sign_in_page)


@post("/login", include_in_schema=False, status_code=200)
async def login_with_link(request: Req) -> Response[bytes]:
    return await _sign_in(request, "token", pages.login_link_page)


@post("/login/switch", include_in_schema=False, status_code=200)
async def switch_identity(request: Req) -> Response[bytes]:
    """The person confirmed: the link's session replaces the current one."""
    checked = await _either_post(request, bound=True)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    sessions = sessions_of(request)
    pending_id = cookie_of(request, PENDING_COOKIE)
    pending = await sessions.resume(pending_id, client=client_of(request))
    if pending_id is None or pending is None or pending.identity_name != form.get("identity"):
        page = pages.message_page(
            "Link expired",
            "That sign-in link's session is gone: open a new link to switch.",
            session,
        )
        return html_response(page, status=410)
    return await _signed_in(request, pending_id)


@post("/login/cancel", include_in_schema=False, status_code=303)
async def keep_identity(request: Req) -> Response[bytes]:
    """The person stays who they are: the link's session is ended."""
    checked = await _either_post(request, bound=True)
    if isinstance(checked, Response):
        return checked
    await sessions_of(request).sign_out(cookie_of(request, PENDING_COOKIE))
    back = "/identities" if isinstance(checked[0], PlatformConsoleSession) else "/credentials"
    return redirect(back, cookies=[make_cookie(request, PENDING_COOKIE, "", max_age=0)])


@post("/sign-out", include_in_schema=False, status_code=303)
async def sign_out(request: Req) -> Response[bytes]:
    checked = await _either_post(request, bound=False)
    if isinstance(checked, Response):
        return checked
    sessions = sessions_of(request)
    await sessions.sign_out(cookie_of(request, SESSION_COOKIE))
    await sessions.sign_out(cookie_of(request, PENDING_COOKIE))
    cookies = [
        make_cookie(request, SESSION_COOKIE, "", max_age=0),
        make_cookie(request, PENDING_COOKIE, "", max_age=0),
    ]
    return redirect("/sign-in", cookies=cookies)


SIGN_IN_ROUTES = [
    home,
    sign_in_form,
    sign_in,
    login_link_form,
    login_with_link,
    switch_identity,
    keep_identity,
    sign_out,
]
