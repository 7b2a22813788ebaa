"""What every console route shares: security headers, cookies, the session of a
request, the same-origin and CSRF checks of a POST, and how pages, JSON and
redirects are answered.

- every response carries a strict CSP (no inline script or style, no framing)
  and ``X-Frame-Options: DENY``; ``Cache-Control: no-store`` is added by the
  app to every response;
- every state-changing POST must come from this origin (``Sec-Fetch-Site``, else
  ``Origin``) and carry the session's CSRF token (sign-in forms: a
  double-submit token of their own), and the tab's binding (below).

Cookie tossing. Cookies ignore ports, and a sibling subdomain may set cookies
for its parent: a page there can replace the session cookie with one of its own
session, so that what the person then saves lands in another identity. Over TLS
the cookies are ``__Host-`` cookies, which no other host can set. No cookie
name helps against another port of the same host, so every session is also
bound to the tab: the page that answers a sign-in hands the session's binding
to the script, which keeps it in ``localStorage`` (per origin: scheme, host
*and port*, out of reach of any other port or host) and sends it with every
state-changing POST. A tossed cookie comes without its binding, and each of
its POSTs is refused (:func:`authorised_post`). docs/security.md says what is
left.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.params import Parameter

from loomal.console import pages
from loomal.console.markup import Html
from loomal.console.sessions import (
    AnySession,
    ConsoleSession,
    ConsoleSessions,
    PlatformConsoleSession,
)
from loomal.errors import LoomalError, RequestTimeoutError
from loomal.runtime import RunningVault

__all__ = [
    "BINDING_HEADER",
    "CSP",
    "HEADERS",
    "PENDING_COOKIE",
    "SESSION_COOKIE",
    "SIGN_IN_COOKIE",
    "Name",
    "Number",
    "Req",
    "Text",
    "authorised_platform_post",
    "authorised_post",
    "checked_post",
    "client_of",
    "cookie_of",
    "current_platform_session",
    "current_session",
    "error_page",
    "html_response",
    "json_response",
    "make_cookie",
    "read_body",
    "read_form",
    "redirect",
    "same_origin",
    "sessions_of",
    "unbound_page",
    "vault_of",
]

SESSION_COOKIE = "loomal_session"
SIGN_IN_COOKIE = "loomal_signin"
PENDING_COOKIE = "loomal_pending"
"""A session a sign-in link opened while another identity was signed in, until the
person confirms the switch."""
BINDING_HEADER = "x-loomal-binding"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
HEADERS = {"content-security-policy": CSP, "x-frame-options": "DENY"}
_encode = msgspec.json.Encoder().encode

Req = Request[Any, Any, Any]
Name = Annotated[str, Parameter()]
Text = Annotated[str, Parameter()]
Number = Annotated[int, Parameter()]


def vault_of(request: Req) -> RunningVault:
    vault: RunningVault = request.app.state.vault
    return vault


def sessions_of(request: Req) -> ConsoleSessions:
    state = request.app.state
    if getattr(state, "console_sessions", None) is None:
        vault = vault_of(request)
        state.console_sessions = ConsoleSessions(
            vault.store, vault.identities, platform=vault.platform
        )
    sessions: ConsoleSessions = state.console_sessions
    return sessions


def client_of(request: Req) -> str:
    return request.client.host if request.client else ""


def over_tls(request: Req) -> bool:
    """Cookies are marked Secure when the browser reached us over TLS (directly,
    or through a proxy that says so)."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def cookie_name(request: Req, key: str) -> str:
    """``__Host-`` + key over TLS: a cookie no other host (a sibling subdomain
    included) can set; the plain name over http, where browsers refuse the prefix."""
    return f"__Host-{key}" if over_tls(request) else key


def cookie_of(request: Req, key: str) -> str | None:
    """The cookie ``key`` under its name for this request (over TLS only the
    ``__Host-`` one counts: a plain one may have been set by a sibling host)."""
    return request.cookies.get(cookie_name(request, key))


def make_cookie(request: Req, key: str, value: str, max_age: int | None) -> Cookie:
    return Cookie(
        key=cookie_name(request, key),
        value=value,
        path="/",
        httponly=True,
        samesite="strict",
        secure=over_tls(request),
        max_age=max_age,
    )


def html_response(
    page: Html, *, status: int = 200, cookies: list[Cookie] | None = None
) -> Response[bytes]:
    return Response(
        page.encode(),
        status_code=status,
        media_type="text/html",
        headers=HEADERS,
        cookies=cookies or [],
    )


def json_response(value: Any, status: int = 200) -> Response[bytes]:
    return Response(
        _encode(value), status_code=status, media_type="application/json", headers=HEADERS
    )


def redirect(location: str, cookies: list[Cookie] | None = None) -> Response[bytes]:
    return Response(
        b"", status_code=303, headers={**HEADERS, "location": location}, cookies=cookies or []
    )


async def current_session(request: Req, *, badge: bool = True) -> ConsoleSession | None:
    """The identity session of this browser (None for a platform session); ``badge``:
    with the count of its pending approvals for the header (one COUNT in the store;
    a page, not a script's call or a POST, shows it)."""
    session = await sessions_of(request).resume(
        cookie_of(request, SESSION_COOKIE), client=client_of(request)
    )
    if session is None or not badge:
        return session
    count = await vault_of(request).approvals.count_pending(session.principal)
    return replace(session, pending_approvals=count)


async def current_platform_session(request: Req) -> PlatformConsoleSession | None:
    """The platform-key session of this browser (None for an identity's session)."""
    return await sessions_of(request).resume_platform(
        cookie_of(request, SESSION_COOKIE), client=client_of(request)
    )


def same_origin(request: Req) -> bool:
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


def _body_deadline(request: Req) -> asyncio.Timeout:
    """The server's body deadline (``LOOMAL_BODY_TIMEOUT_SECONDS``), as the edge
    applies it to the API's bodies."""
    vault: RunningVault = request.app.state.vault
    return asyncio.timeout(vault.settings.body_timeout_seconds)


async def read_form(request: Req) -> dict[str, str]:
    """The form's text fields, the body read within the server's body deadline
    (RequestTimeoutError, 408, after it: ``POST /sign-in`` reads a form before any
    check, so a client without a key could otherwise hold a connection forever)."""
    try:
        async with _body_deadline(request):
            form = await request.form()
    except TimeoutError:
        raise RequestTimeoutError() from None
    return {key: value for key, value in form.items() if isinstance(value, str)}


async def read_body(request: Req) -> bytes:
    """The raw request body, within the same deadline as :func:`read_form`."""
    try:
        async with _body_deadline(request):
            return await request.body()
    except TimeoutError:
        raise RequestTimeoutError() from None


async def authorised_post(
    request: Req, *, bound: bool = True
) -> tuple[ConsoleSession, dict[str, str]] | Response[bytes]:
    """The session and form of a state-changing POST, or the page that refuses it.

    ``bound``: the tab must also present the session's binding (see above); only
    signing out goes without, since ending even a tossed session harms no one.
    """
    session = await current_session(request, badge=False)
    if session is None:
        return redirect("/sign-in")
    return await checked_post(request, session, bound=bound)


async def authorised_platform_post(
    request: Req,
) -> tuple[PlatformConsoleSession, dict[str, str]] | Response[bytes]:
    """:func:`authorised_post` for the pages of a platform-key session."""
    session = await current_platform_session(request)
    if session is None:
        return redirect("/sign-in")
    return await checked_post(request, session, bound=True)


S = TypeVar("S", bound=ConsoleSession | PlatformConsoleSession)


async def checked_post(
    request: Req, session: S, *, bound: bool
) -> tuple[S, dict[str, str]] | Response[bytes]:
    """The form of ``session``'s POST if it came from this origin with the session's
    CSRF token (and, ``bound``, the tab's binding); else the page that refuses it."""
    form = await read_form(request)
    presented = form.get("csrf") or request.headers.get("x-csrf-token")
    if not same_origin(request) or not session.csrf_matches(presented):
        return html_response(
            pages.message_page(
                "Request refused",
                "This form is out of date or came from another site. Reload the page and retry.",
                session,
            ),
            status=403,
        )
    if bound and not session.binding_matches(
        form.get("binding") or request.headers.get(BINDING_HEADER)
    ):
        return unbound_page(session)
    return session, form


def unbound_page(session: AnySession) -> Response[bytes]:
    """A POST whose tab does not hold the binding of the session cookie it came with."""
    who = (
        f"platform key {session.principal.name}"
        if isinstance(session, PlatformConsoleSession)
        else session.identity_name
    )
    return html_response(
        pages.message_page(
            "Sign in again",
            f"Nothing was saved. This browser's session cookie (signed in as "
            f"{who}) is not the sign-in this tab made: it may have been "
            "replaced by a page on another port or host, or this tab was signed in before "
            "the cookie changed. Sign out, then sign in again.",
            session,
        ),
        status=403,
    )


def error_page(session: AnySession | None, error: LoomalError) -> Response[bytes]:
    titles = {
        400: "Not possible",
        403: "Not allowed",
        404: "Not found",
        409: "Not possible",
        410: "Expired",
        422: "Not valid",
        429: "Slow down",
    }
    title = titles.get(error.http_status, "Something went wrong")
    return html_response(
        pages.message_page(title, error.message, session), status=error.http_status
    )
