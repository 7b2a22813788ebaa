"""The console's Requests pages: what agents asked for, and the page where a person
fills one in (the add form of the request's type, :func:`form_page`) or declines it.

The agent's words (its reason, the name, the key label) are shown as plain text,
escaped like every value (:mod:`loomal.console.markup`), never as markup. Every
rule (who may answer, once, expiry, the store's validation) is the core's
:class:`~loomal.core.access_requests.AccessRequestService`; a fulfilment is
create-only unless the person ticks *Replace* for the version shown (the add
form's own box, :func:`replace_box`).
"""

from __future__ import annotations

from litestar import Response, get, post

from loomal.console.adding import replace_box
from loomal.console.decisions import decision_form, may_decide, post_decision
from loomal.console.editing import find_summary
from loomal.console.fields import FIELDS
from loomal.console.form_page import AnsweredAsk, form_page
from loomal.console.forms import (
    FormErrors,
    custom_row_keys,
    field_of_error,
    request_from_form,
    shown_custom_keys,
)
from loomal.console.markup import Html, join, render
from loomal.console.pages import layout, message_page, when
from loomal.console.sessions import ConsoleSession
from loomal.console.web import (
    Name,
    Req,
    authorised_post,
    current_session,
    error_page,
    html_response,
    redirect,
    vault_of,
)
from loomal.core.access_request_models import AccessRequest, AccessRequestFulfill
from loomal.core.preconditions import WritePrecondition
from loomal.core.principals import Scope
from loomal.errors import LoomalError, NotFoundError, PreconditionFailedError, ValidationError

__all__ = ["REQUEST_ROUTES"]


def _asker(asked: AccessRequest) -> Html:
    label = render(" ({label})", label=asked.requested_by_label) if asked.requested_by_label else ""
    return render("<code>{prefix}…</code>{label}", prefix=asked.requested_by, label=label)


def _requests_page(session: ConsoleSession, requests: list[AccessRequest]) -> Html:
    if not requests:
        body = Html(
            '<div class="empty card"><h2>No requests</h2><p>When an agent lacks a credential, '
            "it can ask for it (<code>POST /v0/requests</code>, <code>loomal vault request"
            "</code>, the <code>vault_request</code> tool); its request shows here.</p></div>"
        )
        return layout("Requests", body, session)
    rows = join(
        render(
            '<tr><td data-label="Credential">{link}</td><td data-label="Type">{type}</td>'
            '<td data-label="Reason" class="reason">{reason}</td>'
            '<td data-label="Asked by">{asker}<br>{created}</td>'
            '<td data-label="Status">{status}</td></tr>',
            link=render('<a href="/requests/{id}">{name}</a>', id=r.request_id, name=r.name)
            if r.status == "pending"
            else render("{name}", name=r.name),
            type=r.type,
            reason=r.reason,
            asker=_asker(r),
            created=when(r.created_at),
            status=r.status
            if r.status != "pending"
            else render("pending until {until}", until=when(r.expires_at)),
        )
        for r in requests
    )
    pending = sum(1 for r in requests if r.status == "pending")
    body = render(
        "<table><caption>{pending} pending of {total} requests</caption><thead><tr>"
        '<th scope="col">Credential</th><th scope="col">Type</th><th scope="col">Reason</th>'
        '<th scope="col">Asked by</th><th scope="col">Status</th></tr></thead>'
        "<tbody>{rows}</tbody></table>",
        pending=pending,
        total=len(requests),
        rows=rows,
    )
    return layout("Requests", body, session)


def _ask_card(session: ConsoleSession, asked: AccessRequest) -> Html:
    """The request as the agent made it (plain text), and the Decline button for a
    session that may decline (vault:write or vault:approve)."""
    decline = Html("")
    if may_decide(session):
        decline = decision_form(
            session,
            f"/requests/{asked.request_id}/decline",
            "Decline",
            danger=True,
            form_id="decline-form",
        )
    fill = (
        Html(
            '<p class="hint">Or fill in the credential below: the agent\'s next look at its '
            "request finds it fulfilled, and it can use the credential.</p>"
        )
        if session.can(Scope.WRITE)
        else Html('<p class="muted">Filling it in needs a key with vault:write.</p>')
    )
    hosts = (
        join((render("<code>{h}</code>", h=h) for h in asked.allowed_hosts), ", ")
        if asked.allowed_hosts
        else Html('<span class="muted">none given</span>')
    )
    return render(
        '<section class="card" aria-labelledby="ask-title"><h2 id="ask-title">What the agent '
        "asked for</h2>"
        '<dl class="details"><dt>Credential</dt><dd>{name} ({type})</dd>'
        '<dt>Reason</dt><dd class="reason" id="ask-reason">{reason}</dd>'
        "<dt>Allowed hosts</dt><dd>{hosts}</dd>"
        "<dt>Asked by</dt><dd>{asker} at {created}</dd><dt>Expires</dt><dd>{expires}</dd></dl>"
        "{decline}{fill}</section>",
        name=asked.name,
        type=asked.type,
        reason=asked.reason,
        hosts=hosts,
        asker=_asker(asked),
        created=when(asked.created_at),
        expires=when(asked.expires_at),
        decline=decline,
        fill=fill,
    )


def _fulfill_page(
    session: ConsoleSession,
    asked: AccessRequest,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    custom_keys: list[tuple[str, str]] | None = None,
    replace: Html | None = None,
) -> Html:
    return form_page(
        session,
        ctype=asked.type if asked.type in FIELDS else "CUSTOM",
        values={**values, "name": asked.name},
        errors=errors,
        custom_keys=custom_keys or [],
        replace=replace,
        answering=AnsweredAsk(
            title=f"Request for {asked.name}",
            action=f"/requests/{asked.request_id}/fulfill",
            cancel="/requests",
            before=_ask_card(session, asked),
        ),
    )


async def _existing(request: Req, session: ConsoleSession, name: str) -> Html | None:
    """The *Replace* box when the requested name is held: a fulfilment replaces it
    only when the person ticks it for the version shown."""
    try:
        return replace_box(await find_summary(vault_of(request), session, name))
    except NotFoundError:
        return None


@get("/requests", include_in_schema=False)
async def requests_list(request: Req) -> Response[bytes]:
    session = await current_session(request)
    if session is None:
        return redirect("/sign-in")
    try:
        listed = await vault_of(request).requests.list_requests(session.principal)
    except LoomalError as error:
        return error_page(session, error)
    return html_response(_requests_page(session, listed.requests))


@get("/requests/{request_id:str}", include_in_schema=False)
async def request_page(request: Req, request_id: Name) -> Response[bytes]:
    session = await current_session(request)
    if session is None:
        return redirect("/sign-in")
    try:
        asked = await vault_of(request).requests.get_request(session.principal, request_id)
        if asked.status != "pending":
            message = f"This request for “{asked.name}” is {asked.status}: nothing to answer."
            return html_response(message_page("Request answered", message, session))
    except LoomalError as error:
        return error_page(session, error)
    values = {"metadata.allowedHosts": "\n".join(asked.allowed_hosts or ())}
    if not session.can(Scope.WRITE):
        body = _ask_card(session, asked)
        return html_response(layout(f"Request for {asked.name}", body, session))
    replace = await _existing(request, session, asked.name)
    return html_response(_fulfill_page(session, asked, values=values, errors={}, replace=replace))


@post("/requests/{request_id:str}/fulfill", include_in_schema=False, status_code=303)
async def fulfill(request: Req, request_id: Name) -> Response[bytes]:
    checked = await authorised_post(request)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    requests = vault_of(request).requests
    try:
        asked = await requests.get_request(session.principal, request_id)
    except LoomalError as error:
        return error_page(session, error)
    form = {**form, "type": asked.type, "name": asked.name}
    replace_version = form.get("replace", "")
    precondition = (
        WritePrecondition(versions=frozenset({int(replace_version)}))
        if replace_version.isdigit()
        else None
    )
    replace: Html | None = None
    status = 422
    try:
        _, store = request_from_form(form)
        answer = AccessRequestFulfill(
            data=store.data, metadata=store.metadata, expires_at=store.expires_at
        )
        await requests.fulfill(session.principal, request_id, answer, precondition)
    except FormErrors as invalid:
        errors = invalid.errors
    except ValidationError as error:
        errors = {field_of_error(error.message, asked.type): error.message}
    except PreconditionFailedError:
        errors = {"name": f"“{asked.name}” exists: tick Replace to replace it, or Decline."}
        replace, status = await _existing(request, session, asked.name), 409
    except LoomalError as error:
        return error_page(session, error)
    else:
        return redirect(f"/credentials/{asked.name}")
    page = _fulfill_page(
        session,
        asked,
        values={k: v for k, v in form.items() if k != "replace"},
        errors=errors,
        custom_keys=shown_custom_keys(custom_row_keys(form)),
        replace=replace if replace is not None else await _existing(request, session, asked.name),
    )
    return html_response(page, status=status)


@post("/requests/{request_id:str}/decline", include_in_schema=False, status_code=303)
async def decline(request: Req, request_id: Name) -> Response[bytes]:
    async def decide(session: ConsoleSession, _: dict[str, str]) -> None:
        await vault_of(request).requests.decline(session.principal, request_id)

    return await post_decision(request, decide, "/requests")


REQUEST_ROUTES = [requests_list, request_page, fulfill, decline]
