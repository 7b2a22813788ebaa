"""Signing in (with an API key, or a one-time link's token) and out.

Both sign-in forms carry a double-submit token (a random value in an
``HttpOnly`` ``SameSite=Strict`` cookie and in the form), and failures count
toward the API's per-address throttle (:class:`ConsoleSessions`).
"""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Response, get, post

from loomal.console import pages
from loomal.console.web import (
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    Req,
    authorised_post,
    client_of,
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


@get("/", include_in_schema=False)
async def home(request: Req) -> Response[bytes]:
    return redirect("/credentials" if await current_session(request) else "/sign-in")


def _sign_in_form(request: Req, page: Any, error: str | None, status: int) -> Response[bytes]:
    token = secrets.token_urlsafe(24)
    cookie = make_cookie(request, SIGN_IN_COOKIE, token, max_age=3600)
    return html_response(page(token, error), status=status, cookies=[cookie])


@get("/sign-in", include_in_schema=False)
async def sign_in_form(request: Req) -> Response[bytes]:
    if await current_session(request):
        return redirect("/credentials")
    return _sign_in_form(request, pages.sign_in_page, None, 200)


@get("/login", include_in_schema=False)
async def login_link_form(request: Req) -> Response[bytes]:
    return _sign_in_form(request, pages.login_link_page, None, 200)


async def _sign_in(request: Req, field: str, page: Any) -> Response[bytes]:
    form = await read_form(request)
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    presented = form.get("csrf", "")
    if not (same_origin(request) and expected and secrets.compare_digest(expected, presented)):
        return _sign_in_form(request, page, "The form expired; please try again.", 403)
    sessions = sessions_of(request)
    try:
        if field == "api_key":
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
    await sessions.sign_out(request.cookies.get(SESSION_COOKIE))  # one session per browser
    cookie = make_cookie(request, SESSION_COOKIE, session_id, max_age=None)
    clear = make_cookie(request, SIGN_IN_COOKIE, "", max_age=0)
    return redirect("/credentials", cookies=[cookie, clear])


@post("/sign-in", include_in_schema=False, status_code=303)
async def sign_in(request: Req) -> Response[bytes]:
    return await _sign_in(request, "api_key", pages.sign_in_page)


@post("/login", include_in_schema=False, status_code=303)
async def login_with_link(request: Req) -> Response[bytes]:
    return await _sign_in(request, "token", pages.login_link_page)


@post("/sign-out", include_in_schema=False, status_code=303)
async def sign_out(request: Req) -> Response[bytes]:
    checked = await authorised_post(request)
    if isinstance(checked, Response):
        return checked
    await sessions_of(request).sign_out(request.cookies.get(SESSION_COOKIE))
    return redirect("/sign-in", cookies=[make_cookie(request, SESSION_COOKIE, "", max_age=0)])


SIGN_IN_ROUTES = [home, sign_in_form, sign_in, login_link_form, login_with_link, sign_out]
