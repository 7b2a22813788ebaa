"""The Identities pages: a browser signed in with a platform key manages the
fleet's identities (#24 item 4). Each route reads the session and the form and
calls :class:`PlatformService`, the service the platform API uses, so names,
scopes, rotation, deletion and their audit events are the API's own.

Only a platform-key session reaches these pages; an identity's session is sent
to its credentials, and a platform session never opens those (its cookie does
not resume as an identity's session). Every POST is checked as the credential
pages' are: this origin, the session's CSRF token and the tab's binding.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Response, get, post
from litestar.params import QueryParameter

from loomal.console import fleet_pages, pages
from loomal.console.sessions import PlatformConsoleSession
from loomal.console.web import (
    Name,
    Req,
    authorised_platform_post,
    current_platform_session,
    current_session,
    error_page,
    html_response,
    redirect,
    vault_of,
)
from loomal.core.platform import MAX_PAGE, PlatformService
from loomal.core.platform_models import CreateIdentityRequest, UpdateIdentityRequest
from loomal.errors import LoomalError

__all__ = ["FLEET_ROUTES"]

PageToken = Annotated[str | None, QueryParameter(name="pageToken")]


def _platform(request: Req) -> PlatformService:
    return vault_of(request).platform


async def _session_or_away(request: Req) -> PlatformConsoleSession | Response[bytes]:
    """The platform session, or where this browser belongs instead."""
    session = await current_platform_session(request)
    if session is not None:
        return session
    return redirect("/credentials" if await current_session(request) else "/sign-in")


@get("/identities", include_in_schema=False)
async def identities(request: Req, page_token: PageToken = None) -> Response[bytes]:
    session = await _session_or_away(request)
    if isinstance(session, Response):
        return session
    platform = _platform(request)
    try:
        page = await platform.list_identities(
            session.principal, limit=MAX_PAGE, page_token=page_token
        )
        rows = [
            (summary, await platform.keys(session.principal, summary.identity_id))
            for summary in page.identities
        ]
    except LoomalError as error:
        return error_page(session, error)
    return html_response(fleet_pages.identities_page(session, rows, page.next_page_token))


@get("/identities/new", include_in_schema=False)
async def new_identity(request: Req) -> Response[bytes]:
    session = await _session_or_away(request)
    if isinstance(session, Response):
        return session
    return html_response(fleet_pages.new_identity_page(session))


async def _checked_scopes(request: Req) -> list[str]:
    """The checked scope boxes (the form repeats ``scopes``; it was read, within the
    body deadline, by the POST's checks, and Litestar keeps it)."""
    form = await request.form()
    return [value for value in form.getall("scopes", []) if isinstance(value, str)]


def _api_url(request: Req) -> str:
    """The API's address as this browser reached it (the console and the API share it)."""
    return f"{request.url.scheme}://{request.url.netloc}"


@post("/identities", include_in_schema=False, status_code=200)
async def create_identity(request: Req) -> Response[bytes]:
    checked = await authorised_platform_post(request)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    wanted = CreateIdentityRequest(
        name=form.get("name", "").strip() or None, scopes=await _checked_scopes(request)
    )
    try:
        made = await _platform(request).create(
            session.principal, wanted, label=form.get("label", "").strip() or None
        )
    except LoomalError as error:
        page = fleet_pages.new_identity_page(session, error.message)
        return html_response(page, status=error.http_status)
    page = fleet_pages.created_key_page(
        session,
        title=f"Created {made.name}",
        name=made.name,
        identity_id=made.identity_id,
        raw_key=made.raw_key,
        api_url=_api_url(request),
    )
    return html_response(page)


@get("/identities/{identity_id:str}", include_in_schema=False)
async def identity(request: Req, identity_id: Name) -> Response[bytes]:
    session = await _session_or_away(request)
    if isinstance(session, Response):
        return session
    platform = _platform(request)
    try:
        detail = await platform.get(session.principal, identity_id)
        keys = await platform.keys(session.principal, identity_id)
        credentials = await platform.credential_count(session.principal, identity_id)
    except LoomalError as error:
        return error_page(session, error)
    return html_response(fleet_pages.identity_page(session, detail, keys, credentials))


@post("/identities/{identity_id:str}/rename", include_in_schema=False, status_code=303)
async def rename(request: Req, identity_id: Name) -> Response[bytes]:
    checked = await authorised_platform_post(request)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    change = UpdateIdentityRequest(name=form.get("name", ""))
    try:
        await _platform(request).update(session.principal, identity_id, change)
    except LoomalError as error:
        return error_page(session, error)
    return redirect(f"/identities/{identity_id}")


@post("/identities/{identity_id:str}/scopes", include_in_schema=False, status_code=303)
async def change_scopes(request: Req, identity_id: Name) -> Response[bytes]:
    """The boxes say the scopes wanted; the service is asked for the difference."""
    checked = await authorised_platform_post(request)
    if isinstance(checked, Response):
        return checked
    session, _ = checked
    wanted = set(await _checked_scopes(request))
    platform = _platform(request)
    try:
        current = set((await platform.get(session.principal, identity_id)).scopes)
        change = UpdateIdentityRequest(
            add_scopes=sorted(wanted - current), remove_scopes=sorted(current - wanted)
        )
        await platform.update(session.principal, identity_id, change)
    except LoomalError as error:
        return error_page(session, error)
    return redirect(f"/identities/{identity_id}")


@get("/identities/{identity_id:str}/rotate", include_in_schema=False)
async def confirm_rotate(request: Req, identity_id: Name) -> Response[bytes]:
    session = await _session_or_away(request)
    if isinstance(session, Response):
        return session
    try:
        detail = await _platform(request).get(session.principal, identity_id)
    except LoomalError as error:
        return error_page(session, error)
    page = pages.confirm_page(
        session,
        title=f"Rotate the key of {detail.name}?",
        question=f"Give “{detail.name}” a new API key? Its current keys stop working at once "
        "(other servers: within seconds); agents using them need the new key.",
        action=f"/identities/{identity_id}/rotate",
        button="Rotate key",
        cancel=f"/identities/{identity_id}",
    )
    return html_response(page)


@post("/identities/{identity_id:str}/rotate", include_in_schema=False, status_code=200)
async def rotate(request: Req, identity_id: Name) -> Response[bytes]:
    checked = await authorised_platform_post(request)
    if isinstance(checked, Response):
        return checked
    session, _ = checked
    platform = _platform(request)
    try:
        rotated = await platform.rotate_key(session.principal, identity_id)
        detail = await platform.get(session.principal, identity_id)
    except LoomalError as error:
        return error_page(session, error)
    page = fleet_pages.created_key_page(
        session,
        title=f"New key for {detail.name}",
        name=detail.name,
        identity_id=identity_id,
        raw_key=rotated.raw_key,
        api_url=_api_url(request),
    )
    return html_response(page)


@get("/identities/{identity_id:str}/delete", include_in_schema=False)
async def confirm_delete(request: Req, identity_id: Name) -> Response[bytes]:
    session = await _session_or_away(request)
    if isinstance(session, Response):
        return session
    platform = _platform(request)
    try:
        detail = await platform.get(session.principal, identity_id)
        count = await platform.credential_count(session.principal, identity_id)
    except LoomalError as error:
        return error_page(session, error)
    goes = "no credentials" if count == 0 else f"{count} credential" + ("s" if count > 1 else "")
    page = pages.confirm_page(
        session,
        title=f"Delete {detail.name}?",
        question=f"Delete the identity “{detail.name}”, its keys and its {goes}? "
        "Agents using it lose access at once. Its audit trail stays. This cannot be undone.",
        action=f"/identities/{identity_id}/delete",
        button=f"Delete {detail.name} and {goes}",
        cancel=f"/identities/{identity_id}",
    )
    return html_response(page)


@post("/identities/{identity_id:str}/delete", include_in_schema=False, status_code=303)
async def delete(request: Req, identity_id: Name) -> Response[bytes]:
    checked = await authorised_platform_post(request)
    if isinstance(checked, Response):
        return checked
    session, _ = checked
    try:
        await _platform(request).delete(session.principal, identity_id)
    except LoomalError as error:
        return error_page(session, error)
    return redirect("/identities")


FLEET_ROUTES = [
    identities,
    new_identity,
    create_identity,
    identity,
    rename,
    change_scopes,
    confirm_rotate,
    rotate,
    confirm_delete,
    delete,
]
