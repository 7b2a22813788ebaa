"""Editing a credential in the console: the form, its save, and the page a person
gets when the credential changed while they were editing.

Opening the form reads no secret (the metadata shown is plaintext; a CUSTOM
credential's field names come from :meth:`VaultService.outline`, which is no
use of the secret). Saving sends a :class:`CredentialEdit` that names only
what the person changed, with the version the form was opened at: the core
merges it into the stored credential, or refuses (412) when that version is no
longer current, and the person is shown what changed instead of overwriting it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Response, get, post

from loomal.console.fields import FIELDS
from loomal.console.form_page import form_page
from loomal.console.forms import (
    EditSnapshot,
    FormErrors,
    carried_over,
    custom_row_keys,
    edit_from_form,
    field_of_error,
    form_values,
    shown_custom_keys,
)
from loomal.console.markup import Html, join, render
from loomal.console.pages import layout
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
from loomal.core.models import CredentialSummary
from loomal.core.preconditions import WritePrecondition
from loomal.core.principals import Scope
from loomal.errors import (
    LoomalError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionFailedError,
    ValidationError,
)
from loomal.runtime import RunningVault

__all__ = ["EDIT_ROUTES", "find_summary"]

_NO_READ_CUSTOM = (
    "This key cannot read the credential (no vault:read), so its field names are not "
    "shown: a field you name here is set, every other field is kept."
)


async def find_summary(
    vault: RunningVault, session: ConsoleSession, name: str
) -> CredentialSummary:
    for summary in (await vault.service.list_credentials(session.principal)).credentials:
        if summary.name == name:
            return summary
    raise NotFoundError(f"No credential named {name!r}.")


async def _custom_rows(
    vault: RunningVault, session: ConsoleSession, name: str
) -> tuple[list[tuple[str, str]], str | None]:
    """A CUSTOM credential's field names as edit rows, or a note when this session
    may not see them."""
    names = (await vault.service.outline(session.principal, name)).field_names
    if names is None:
        return [], _NO_READ_CUSTOM
    return [(key, key) for key in names], None


@get("/credentials/{name:str}/edit", include_in_schema=False)
async def edit_form(request: Req, name: Name) -> Response[bytes]:
    session = await current_session(request)
    if session is None:
        return redirect("/sign-in")
    vault = vault_of(request)
    try:
        if not session.can(Scope.WRITE):
            raise PermissionDeniedError("This key may not change credentials.")
        opened = EditSnapshot.of(await find_summary(vault, session, name))
        rows, note = (
            await _custom_rows(vault, session, name) if opened.type == "CUSTOM" else ([], None)
        )
    except LoomalError as error:
        return error_page(session, error)
    page = form_page(
        session,
        ctype=opened.type,
        values=form_values(opened, name),
        errors={},
        editing=name,
        opened=opened,
        custom_keys=rows,
        custom_note=note,
    )
    return html_response(page)


@post("/credentials/{name:str}/edit", include_in_schema=False, status_code=303)
async def update(request: Req, name: Name) -> Response[bytes]:
    checked = await authorised_post(request)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    vault = vault_of(request)
    if not session.can(Scope.WRITE):
        return error_page(session, PermissionDeniedError("This key may not change credentials."))
    try:
        opened = EditSnapshot.decode(form.get("snapshot", ""))
    except FormErrors:
        return error_page(session, ValidationError("This form is out of date: open Edit again."))
    try:
        edit = edit_from_form(form, opened)
        if not edit.changes_nothing:
            precondition = WritePrecondition(versions=frozenset({opened.version}))
            await vault.service.edit_credential(session.principal, name, edit, precondition)
    except FormErrors as invalid:
        errors = invalid.errors
    except ValidationError as error:
        errors = {field_of_error(error.message, opened.type): error.message}
    except PreconditionFailedError:
        return await _conflict(vault, session, name, form, opened)
    except LoomalError as error:
        return error_page(session, error)
    else:
        return redirect(f"/credentials/{name}")
    page = form_page(
        session,
        ctype=opened.type,
        values=form,
        errors=errors,
        editing=name,
        opened=opened,
        custom_keys=shown_custom_keys(custom_row_keys(form)),
    )
    return html_response(page, status=422)


# -- a change made meanwhile ----------------------------------------------------------


def _time(value: datetime | None) -> str:
    return "none" if value is None else f"{value:%Y-%m-%d %H:%M:%S} UTC"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def what_changed(opened: EditSnapshot, now: EditSnapshot) -> list[str]:
    """What changed between the version a form was opened at and ``now``, in words
    (plaintext only: metadata, expiry, and when the secret fields changed)."""
    changes = []
    if now.type != opened.type:
        changes.append(f"Its type is now {now.type} (was {opened.type}).")
    if now.last_rotated_at != opened.last_rotated_at:
        changes.append(f"Its secret fields were changed at {_time(now.last_rotated_at)}.")
    for key in sorted(set(opened.metadata) | set(now.metadata)):
        before, after = opened.metadata.get(key), now.metadata.get(key)
        if key not in now.metadata:
            changes.append(f"metadata.{key} was removed (was {_short(before)}).")
        elif key not in opened.metadata:
            changes.append(f"metadata.{key} was added: {_short(after)}.")
        elif before != after:
            changes.append(f"metadata.{key} is now {_short(after)} (was {_short(before)}).")
    if now.expires_at != opened.expires_at:
        changes.append(
            f"Its expiry is now {_time(now.expires_at)} (was {_time(opened.expires_at)})."
        )
    if not changes:
        changes.append("It was stored again (a backup code used, or its secret fields saved).")
    return changes


async def _conflict(
    vault: RunningVault,
    session: ConsoleSession,
    name: str,
    form: dict[str, str],
    opened: EditSnapshot,
) -> Response[bytes]:
    """Nothing was saved: say what changed since the form was opened, and give the
    form again on the new version with the person's changes carried over."""
    try:
        now = EditSnapshot.of(await find_summary(vault, session, name))
    except NotFoundError:
        body = render(
            '<div class="card" role="alert"><p>“{name}” was deleted while you were editing it. '
            "Nothing was saved.</p>"
            '<p><a class="button" href="/add?type={type}">Add it again</a> '
            '<a class="button secondary" href="/credentials">Back to the list</a></p></div>',
            name=name,
            type=opened.type,
        )
        return html_response(layout(f"{name} was deleted", body, session), status=409)
    except LoomalError as error:
        return error_page(session, error)
    notice = render(
        '<section class="card conflict" role="alert" aria-labelledby="conflict-title">'
        '<h2 id="conflict-title">“{name}” changed while you were editing it</h2>'
        "<p>Nothing was saved: your changes would have overwritten these (version {old} "
        'became {new}, at {at}):</p><ul id="changes">{changes}</ul>'
        "<p>Your changes are below, over the new version: review them and save again, or "
        '<a href="/credentials/{name}">discard them</a>.{secrets}</p></section>',
        name=name,
        old=opened.version,
        new=now.version,
        at=_time(now.updated_at),
        changes=join(render("<li>{c}</li>", c=c) for c in what_changed(opened, now)),
        secrets=Html(" Secret fields you typed are not kept: type them again.")
        if _typed_a_secret(form, opened.type)
        else "",
    )
    rows = shown_custom_keys(custom_row_keys(form))
    if now.type == "CUSTOM" and now.type != opened.type:
        rows, _ = await _custom_rows(vault, session, name)
    page = form_page(
        session,
        ctype=now.type,
        values=carried_over(form, opened, now, name) if now.type == opened.type else {},
        errors={},
        editing=name,
        opened=now,
        custom_keys=rows,
        notice=notice,
    )
    return html_response(page, status=409)


def _typed_a_secret(form: dict[str, str], ctype: str) -> bool:
    names = [f.form_name for f in FIELDS.get(ctype, ()) if f.section == "data"]
    names += [k for k in form if k.startswith("custom.") and k.endswith(".value")]
    return any(form.get(n, "").strip() for n in names)


EDIT_ROUTES = [edit_form, update]
