"""The Approvals page: what agents asked a person for (requests a credential's rule
holds, reads of a ``reveal: "approval"`` credential), pending first, each with what
it would send and the agent's stated reason, and Approve / Deny for a session
that may decide.

Every call is :class:`loomal.core.approvals.ApprovalService`'s, with the session's
principal: who may decide (vault:write or vault:approve, never the key that
asked), deciding once (of two people, the second gets 409 ``approval_decided``),
the audit events. The reason is the agent's text and is shown as text, escaped
like every value here (:mod:`loomal.console.markup`), never as markup.
"""

from __future__ import annotations

from urllib.parse import quote

from litestar import Response, get, post

from loomal.console.decisions import decision_form, may_decide, post_decision
from loomal.console.markup import Html, join, render
from loomal.console.pages import layout, when
from loomal.console.sessions import ConsoleSession
from loomal.console.web import (
    Name,
    Req,
    current_session,
    error_page,
    html_response,
    redirect,
    vault_of,
)
from loomal.core.approval_models import Approval
from loomal.errors import LoomalError, ValidationError

__all__ = ["APPROVAL_ROUTES", "WINDOWS", "approval_card", "approvals_page"]

WINDOWS: tuple[tuple[int, str], ...] = (
    (0, "This request only"),
    (15 * 60, "15 minutes"),
    (3600, "1 hour"),
    (86400, "1 day"),
)
"""What a person may grant with an approval: the request alone, or the same rule
for a while (SPEC: ``windowSeconds``)."""

_STATUS = {
    "pending": "Waiting for a decision",
    "approved": "Approved",
    "denied": "Denied",
    "used": "Approved and used",
    "expired": "Expired",
}


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


def _decide_forms(session: ConsoleSession, a: Approval) -> Html:
    if a.status != "pending" or not may_decide(session):
        return Html("")
    aid = a.approval_id
    window = Html("")
    if a.kind == "request":
        options = join(
            render('<option value="{v}">{label}</option>', v=seconds, label=label)
            for seconds, label in WINDOWS
        )
        window = render(
            '<label class="inline" for="window-{id}">Allow</label> '
            '<select id="window-{id}" name="window">{options}</select> ',
            id=aid,
            options=options,
        )
    return render(
        '<div class="actions decide">{approve}{deny}</div>',
        approve=decision_form(session, f"/approvals/{aid}/approve", "Approve", choice=window),
        deny=decision_form(session, f"/approvals/{aid}/deny", "Deny", danger=True),
    )


def approval_card(session: ConsoleSession, a: Approval) -> Html:
    """One approval: what would happen, who asked and why, and (pending) the choice."""
    if a.kind == "reveal":
        what = render(
            "Read the secret of <strong>{name}</strong> <code>{path}</code>",
            name=a.credential_name,
            path=a.path,
        )
    else:
        what = render(
            "<code>{method}</code> <code>{host}{path}</code> with <strong>{name}</strong>",
            method=a.method,
            host=a.host,
            path=a.path,
            name=a.credential_name,
        )
    body_size = (
        Html("")
        if a.kind == "reveal"
        else render("<dt>Body</dt><dd>{size}</dd>", size=_size(a.body_size))
    )
    reason = (
        render('<p class="muted">The agent says why:</p><p class="reason">{r}</p>', r=a.reason)
        if a.reason
        else Html('<p class="muted">The agent gave no reason.</p>')
    )
    decided = Html("")
    if a.decided_at is not None:
        decided = render(
            "<dt>Decided</dt><dd>{at} by {by}</dd>",
            at=when(a.decided_at, seconds=True),
            by=a.decided_by or "—",
        )
    if a.window_until is not None:
        decided += render(
            "<dt>Same rule allowed until</dt><dd>{until}</dd>", until=when(a.window_until)
        )
    expiry = (
        render("<dt>Expires</dt><dd>{at}</dd>", at=when(a.expires_at, seconds=True))
        if a.status in ("pending", "approved")
        else Html("")
    )
    return render(
        '<section class="card approval is-{status}" id="{id}" aria-labelledby="h-{id}">'
        '<h2 id="h-{id}">{what}</h2>'
        '<p><span class="badge {status}">{label}</span> '
        '<a href="/approvals/{id}" class="muted">{id}</a></p>'
        "{reason}"
        '<dl class="details"><dt>Asked by</dt><dd>{by}</dd>'
        "<dt>Asked at</dt><dd>{at}</dd>{expiry}{body}{decided}</dl>"
        "{forms}</section>",
        id=a.approval_id,
        status=a.status,
        label=_STATUS.get(a.status, a.status),
        what=what,
        reason=reason,
        by=f"key {a.requested_label} ({a.requested_by})"
        if a.requested_label
        else f"key {a.requested_by}",
        at=when(a.created_at, seconds=True),
        expiry=expiry,
        body=body_size,
        decided=decided,
        forms=_decide_forms(session, a),
    )


def approvals_page(session: ConsoleSession, approvals: list[Approval]) -> Html:
    pending = [a for a in approvals if a.status == "pending"]
    decided = [a for a in approvals if a.status != "pending"]
    hint = Html("")
    if pending and not may_decide(session):
        hint = Html(
            '<p class="hint">This session may look but not decide: deciding needs a key '
            "with vault:approve or vault:write.</p>"
        )
    if pending:
        waiting = join(approval_card(session, a) for a in pending)
    else:
        waiting = Html('<p class="empty card">Nothing is waiting for a decision.</p>')
    recent = Html("")
    if decided:
        recent = render(
            '<h2 class="section">Recently decided</h2>{cards}',
            cards=join(approval_card(session, a) for a in decided),
        )
    body = render(
        '<h2 class="section">Waiting for a decision <span class="muted">{n}</span></h2>'
        "{hint}{waiting}{recent}",
        n=len(pending),
        hint=hint,
        waiting=waiting,
        recent=recent,
    )
    return layout("Approvals", body, session)


@get("/approvals", include_in_schema=False)
async def approvals(request: Req) -> Response[bytes]:
    session = await current_session(request)
    if session is None:
        return redirect("/sign-in")
    try:
        listed = await vault_of(request).approvals.list_approvals(session.principal, limit=100)
    except LoomalError as error:
        return error_page(session, error)
    return html_response(approvals_page(session, listed.approvals))


@get("/approvals/{approval_id:str}", include_in_schema=False)
async def approval(request: Req, approval_id: Name) -> Response[bytes]:
    """The page an approvalUrl names: the one approval, and its choice."""
    session = await current_session(request)
    if session is None:
        return redirect("/sign-in")
    try:
        found = await vault_of(request).approvals.get_approval(session.principal, approval_id)
    except LoomalError as error:
        return error_page(session, error)
    back = Html('<p><a href="/approvals">All approvals</a></p>')
    return html_response(layout("Approval", approval_card(session, found) + back, session))


def _window(form: dict[str, str]) -> int:
    raw = form.get("window", "0")
    allowed = {str(seconds): seconds for seconds, _ in WINDOWS}
    if raw not in allowed:
        raise ValidationError(
            "Choose how long to allow: this request only, 15 minutes, 1 hour or 1 day."
        )
    return allowed[raw]


@post("/approvals/{approval_id:str}/approve", include_in_schema=False, status_code=303)
async def approve(request: Req, approval_id: Name) -> Response[bytes]:
    async def decide(session: ConsoleSession, form: dict[str, str]) -> None:
        service = vault_of(request).approvals
        found = await service.get_approval(session.principal, approval_id)
        window = _window(form) if found.kind == "request" else None
        await service.approve(session.principal, approval_id, window_seconds=window)

    return await post_decision(request, decide, f"/approvals/{quote(approval_id, safe='')}")


@post("/approvals/{approval_id:str}/deny", include_in_schema=False, status_code=303)
async def deny(request: Req, approval_id: Name) -> Response[bytes]:
    async def decide(session: ConsoleSession, _: dict[str, str]) -> None:
        await vault_of(request).approvals.deny(session.principal, approval_id)

    return await post_decision(request, decide, f"/approvals/{quote(approval_id, safe='')}")


APPROVAL_ROUTES = [approvals, approval, approve, deny]
