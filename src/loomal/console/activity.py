"""The Activity page: the identity's audit log, newest first, filtered by action,
outcome and credential, each event with a detail view and times to the second."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated
from urllib.parse import urlencode

from litestar import Response, get
from litestar.params import Parameter

from loomal.console.markup import Html, join, render
from loomal.console.pages import layout, when
from loomal.console.sessions import ConsoleSession
from loomal.console.web import Req, current_session, error_page, html_response, redirect, vault_of
from loomal.core.audit_actions import AUDIT_ACTIONS
from loomal.core.models import AuditEntry
from loomal.errors import LoomalError

__all__ = ["ACTIVITY_ROUTES", "activity_page"]

ACTIONS = AUDIT_ACTIONS
OUTCOMES = (
    ("ok", "ok"),
    ("failed", "failed (any error)"),
    ("forbidden", "forbidden"),
    ("not_found", "not_found"),
    ("expired", "expired"),
    ("validation_error", "validation_error"),
    ("version_conflict", "version_conflict"),
    ("bad_request", "bad_request"),
    ("bad_gateway", "bad_gateway"),
    ("unauthorized", "unauthorized"),
    ("rate_limited", "rate_limited"),
)
Filter = Annotated[str, Parameter()]


def _select(name: str, label: str, options: Sequence[tuple[str, str]], chosen: str) -> Html:
    return render(
        '<label for="{n}">{label}</label><select id="{n}" name="{n}">{o}</select>',
        n=name,
        label=label,
        o=join(
            render(
                '<option value="{v}"{sel}>{t}</option>',
                v=v,
                t=t,
                sel=Html(" selected") if v == chosen else "",
            )
            for v, t in (("", "All"), *options)
        ),
    )


def _details(e: AuditEntry) -> Html:
    rows = [
        ("Time", when(e.at, seconds=True)),
        ("Event", str(e.event_id)),
        ("Action", e.action),
        ("Credential", e.credential_name or "—"),
        ("Outcome", e.outcome),
        ("Requests", str(e.count)),
        ("Key", e.key_prefix or "—"),
        ("Key label", e.key_label or "—"),
        ("Operator", e.operator or "—"),
        ("Client", e.client or "—"),
        ("Identity", e.identity_id or "—"),
        ("Acting identity", e.actor_identity_id or "—"),
        ("Detail", e.detail or "—"),
    ]
    return render(
        '<details><summary>Details<span class="visually-hidden"> of event {id}</span></summary>'
        '<dl class="details">{rows}</dl></details>',
        id=e.event_id,
        rows=join(render("<dt>{k}</dt><dd>{v}</dd>", k=k, v=v) for k, v in rows),
    )


def activity_page(
    session: ConsoleSession,
    events: Sequence[AuditEntry],
    next_cursor: str | None,
    *,
    action: str = "",
    outcome: str = "",
    credential: str = "",
) -> Html:
    filters = render(
        '<form method="get" action="/activity" class="filters" role="search" '
        'aria-label="Filter activity">{action}{outcome}'
        '<label for="credential">Credential</label>'
        '<input id="credential" name="credential" value="{credential}" autocomplete="off">'
        '<button type="submit" class="secondary">Apply</button></form>',
        action=_select("action", "Action", [(a, a) for a in ACTIONS], action),
        outcome=_select("outcome", "Outcome", OUTCOMES, outcome),
        credential=credential,
    )
    rows = join(
        render(
            '<tr><td data-label="When">{at}</td><td data-label="Action">{action}</td>'
            '<td data-label="Credential">{name}</td><td data-label="Outcome">{outcome}{n}</td>'
            '<td data-label="Key"><code>{key}</code>{label}</td>'
            '<td data-label="Client">{client}</td>'
            '<td data-label="More">{details}</td></tr>',
            at=when(e.at, seconds=True),
            action=e.action,
            name=e.credential_name or "—",
            outcome=e.outcome,
            n=f" ×{e.count}" if e.count > 1 else "",
            key=e.key_prefix or "—",
            label=render(' <span class="label">{l}</span>', l=e.key_label) if e.key_label else "",
            client=e.client or "—",
            details=_details(e),
        )
        for e in events
    )
    query = {
        k: v for k, v in (("action", action), ("outcome", outcome), ("credential", credential)) if v
    }
    more = (
        render(
            '<p><a class="button secondary" href="/activity?{q}">Older</a></p>',
            q=urlencode({**query, "cursor": next_cursor}),
        )
        if next_cursor
        else Html("")
    )
    filtered = bool(query)
    if events:
        table = render(
            "<table><caption>Newest first{f}</caption><thead><tr>"
            '<th scope="col">When</th><th scope="col">Action</th><th scope="col">Credential</th>'
            '<th scope="col">Outcome</th><th scope="col">Key</th><th scope="col">Client</th>'
            '<th scope="col">More</th></tr></thead><tbody>{rows}</tbody></table>',
            f=", filtered" if filtered else "",
            rows=rows,
        )
    elif filtered:
        table = Html('<p class="empty card">No activity matches these filters here.</p>')
    else:
        table = Html('<p class="empty card">No activity yet.</p>')
    return layout("Activity", filters + table + more, session)


@get("/activity", include_in_schema=False)
async def activity(
    request: Req,
    cursor: Annotated[str | None, Parameter()] = None,
    action: Filter = "",
    outcome: Filter = "",
    credential: Filter = "",
) -> Response[bytes]:
    session = await current_session(request)
    if session is None:
        return redirect("/sign-in")
    try:
        page = await vault_of(request).service.audit_log(
            session.principal,
            limit=50,
            cursor=cursor,
            action=action or None,
            outcome=outcome or None,
            credential_name=credential.strip() or None,
        )
    except LoomalError as error:
        return error_page(session, error)
    body = activity_page(
        session,
        page.events,
        page.next_cursor,
        action=action,
        outcome=outcome,
        credential=credential,
    )
    return html_response(body)


ACTIVITY_ROUTES = [activity]
