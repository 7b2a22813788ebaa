"""A credential's History section (its kept versions, each restorable) and the
Recently deleted page (each undeletable, under another name when its own is taken).

Every call is the API's own (:mod:`loomal.core.versions`), with the session's
principal: the same scopes, the same audit events. Nothing here shows a secret:
a version's data is read only through the API (``?version=N``)."""

from __future__ import annotations

from litestar import Response, get, post

from loomal.console.markup import Html, join, render
from loomal.console.pages import confirm_page, csrf_field, layout, when
from loomal.console.sessions import ConsoleSession
from loomal.console.web import (
    Name,
    Number,
    Req,
    authorised_post,
    current_session,
    error_page,
    html_response,
    redirect,
    vault_of,
)
from loomal.core.identity import Scope
from loomal.core.version_models import DeletedList, VersionList
from loomal.errors import LoomalError

__all__ = ["HISTORY_ROUTES", "deleted_page", "history_section"]

_KINDS = {
    "store": "Stored",
    "edit": "Edited",
    "restore": "Restored",
    "undelete": "Undeleted",
    "backup_code": "Backup code used",
}


def history_section(session: ConsoleSession, history: VersionList) -> Html:
    """The History card of a credential page: newest first, Restore on older ones."""
    can_write = session.can(Scope.WRITE)
    name = history.name

    def action(version: int, current: bool) -> Html:
        if current:
            return Html('<span class="badge">Current</span>')
        if not can_write:
            return Html("")
        return render(
            '<a class="button secondary" href="/credentials/{name}/versions/{v}/restore">'
            "Restore version {v}</a>",
            name=name,
            v=version,
        )

    rows = join(
        render(
            '<tr><td data-label="Version">{v}</td><td data-label="When">{at}</td>'
            '<td data-label="How">{kind}</td><td data-label="By">{by}</td>'
            '<td data-label="">{action}</td></tr>',
            v=entry.version,
            at=when(entry.written_at, seconds=True),
            kind=_KINDS.get(entry.kind, entry.kind),
            by=entry.written_by or "—",
            action=action(entry.version, entry.current),
        )
        for entry in history.versions
    )
    return render(
        '<section class="card" aria-labelledby="history-title" id="history">'
        '<h2 id="history-title">History</h2>'
        "<table><caption>{count} kept versions, newest first</caption><thead><tr>"
        '<th scope="col">Version</th><th scope="col">When</th><th scope="col">How</th>'
        '<th scope="col">By</th><th scope="col">Action</th>'
        "</tr></thead><tbody>{rows}</tbody></table></section>",
        count=len(history.versions),
        rows=rows,
    )


def deleted_page(session: ConsoleSession, found: DeletedList) -> Html:
    can_write = session.can(Scope.WRITE)
    if not found.deleted:
        body = Html('<p class="empty card">Nothing deleted can be recovered now.</p>')
        return layout("Recently deleted", body, session)

    def undelete_form(index: int, name: str, taken: bool) -> Html:
        if not can_write:
            return Html("")
        other = Html("")
        if taken:
            other = render(
                '<label for="as-{i}">New name (“{name}” is in use)</label>'
                '<input id="as-{i}" name="as" required value="{name}-restored">',
                i=index,
                name=name,
            )
        return render(
            '<form method="post" action="/deleted/{name}/undelete" class="inline">{csrf}{other}'
            '<button type="submit">Undelete {name}</button></form>',
            name=name,
            csrf=csrf_field(session),
            other=other,
        )

    rows = join(
        render(
            '<tr><td data-label="Name">{name}</td><td data-label="Type">{type}</td>'
            '<td data-label="Deleted">{at}</td><td data-label="By">{by}</td>'
            '<td data-label="Recoverable until">{until}</td><td data-label="">{form}</td></tr>',
            name=d.name,
            type=d.type,
            at=when(d.deleted_at),
            by=d.deleted_by or "—",
            until=when(d.recoverable_until),
            form=undelete_form(i, d.name, d.name_in_use),
        )
        for i, d in enumerate(found.deleted)
    )
    table = render(
        "<table><caption>{count} deleted credentials</caption><thead><tr>"
        '<th scope="col">Name</th><th scope="col">Type</th><th scope="col">Deleted</th>'
        '<th scope="col">By</th><th scope="col">Recoverable until</th>'
        '<th scope="col">Action</th></tr></thead>'
        "<tbody>{rows}</tbody></table>",
        count=found.count,
        rows=rows,
    )
    return layout("Recently deleted", table, session)


@get("/credentials/{name:str}/versions/{version:int}/restore", include_in_schema=False)
async def confirm_restore(request: Req, name: Name, version: Number) -> Response[bytes]:
    session = await current_session(request)
    if session is None:
        return redirect("/sign-in")
    page = confirm_page(
        session,
        title=f"Restore {name}?",
        question=f"Make version {version} of “{name}” current again? It is saved as a new "
        "version; the current one stays in the history. Backup codes used since stay used.",
        action=f"/credentials/{name}/versions/{version}/restore",
        button=f"Restore version {version}",
        cancel=f"/credentials/{name}",
    )
    return html_response(page)


@post(
    "/credentials/{name:str}/versions/{version:int}/restore",
    include_in_schema=False,
    status_code=303,
)
async def restore(request: Req, name: Name, version: Number) -> Response[bytes]:
    checked = await authorised_post(request)
    if isinstance(checked, Response):
        return checked
    session, _ = checked
    try:
        await vault_of(request).service.restore_version(session.principal, name, version)
    except LoomalError as error:
        return error_page(session, error)
    return redirect(f"/credentials/{name}")


@get("/deleted", include_in_schema=False)
async def deleted(request: Req) -> Response[bytes]:
    session = await current_session(request)
    if session is None:
        return redirect("/sign-in")
    try:
        found = await vault_of(request).service.list_deleted(session.principal)
    except LoomalError as error:
        return error_page(session, error)
    return html_response(deleted_page(session, found))


@post("/deleted/{name:str}/undelete", include_in_schema=False, status_code=303)
async def undelete(request: Req, name: Name) -> Response[bytes]:
    checked = await authorised_post(request)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    try:
        back = await vault_of(request).service.undelete_credential(
            session.principal, name, form.get("as") or None
        )
    except LoomalError as error:
        return error_page(session, error)
    return redirect(f"/credentials/{back.name}")


HISTORY_ROUTES = [confirm_restore, restore, deleted, undelete]
