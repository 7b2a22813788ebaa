"""Adding a credential in the console: the form, and its save, which never replaces
a credential of the same name unasked.

A save is create-only (the API's ``If-None-Match: *``). When the name is taken,
the form comes back saying what replacing would lose (the stored credential's
type, metadata fields, when it was last changed and used), with a *Replace*
box that names its version: ticked, the save replaces exactly that version
(``If-Match``), so a credential that changed again meanwhile is not replaced
either. Secret fields typed are never put back into a page: they are typed
again.
"""

from __future__ import annotations

from litestar import Response, get, post

from loomal.console.editing import find_summary
from loomal.console.fields import FIELDS
from loomal.console.form_page import form_page
from loomal.console.forms import (
    FormErrors,
    custom_row_keys,
    field_of_error,
    request_from_form,
    shown_custom_keys,
)
from loomal.console.markup import Html, join, render
from loomal.console.pages import when
from loomal.console.sessions import ConsoleSession
from loomal.console.web import (
    Req,
    Text,
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

__all__ = ["ADD_ROUTES"]


@get("/add", include_in_schema=False)
async def new_form(request: Req, type: Text = "LOGIN") -> Response[bytes]:  # noqa: A002
    session = await current_session(request)
    if session is None:
        return redirect("/sign-in")
    if not session.can(Scope.WRITE):
        return error_page(session, PermissionDeniedError("This key may not add credentials."))
    ctype = type if type in FIELDS else "LOGIN"
    return html_response(form_page(session, ctype=ctype, values={}, errors={}))


def _precondition(form: dict[str, str]) -> WritePrecondition:
    """Create-only, unless the person ticked *Replace* for the version shown to them."""
    replace = form.get("replace", "")
    if replace.isdigit():
        return WritePrecondition(versions=frozenset({int(replace)}))
    return WritePrecondition(must_not_exist=True)


@post("/add", include_in_schema=False, status_code=303)
async def create(request: Req) -> Response[bytes]:
    checked = await authorised_post(request)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    ctype = form.get("type", "")
    name = form.get("name", "").strip()
    replace: Html | None = None
    status = 422
    try:
        name, store_request = request_from_form(form)
        await vault_of(request).service.store_credential(
            session.principal, name, store_request, _precondition(form)
        )
    except FormErrors as invalid:
        errors = invalid.errors
    except ValidationError as error:
        errors = {field_of_error(error.message, ctype): error.message}
    except PreconditionFailedError:
        errors, replace = await _name_taken(request, session, name, form)
        status = 409
    except LoomalError as error:
        return error_page(session, error)
    else:
        return redirect(f"/credentials/{name}")
    page = form_page(
        session,
        ctype=ctype if ctype in FIELDS else "LOGIN",
        values={k: v for k, v in form.items() if k != "replace"},
        errors=errors,
        custom_keys=shown_custom_keys(custom_row_keys(form)),
        replace=replace,
    )
    return html_response(page, status=status)


async def _name_taken(
    request: Req, session: ConsoleSession, name: str, form: dict[str, str]
) -> tuple[dict[str, str], Html | None]:
    """The errors and the *Replace* box for a save refused because ``name`` exists
    (or, after *Replace* was ticked, changed or went away meanwhile)."""
    try:
        existing = await find_summary(vault_of(request), session, name)
    except NotFoundError:
        return {"_form": f"“{name}” no longer exists: Save adds it."}, None
    retype = _typed_a_secret(form)
    if form.get("replace"):
        message = f"“{name}” changed after you chose to replace it: check it again below."
    else:
        message = f"A credential named “{name}” exists already: choose another name, or replace it."
    if retype:
        message += " Secret fields are not kept in this page: type them again."
    return {"name": message}, replace_box(existing)


def replace_box(existing: CredentialSummary) -> Html:
    """What replacing ``existing`` loses, and the box that allows it (this version only)."""
    keys = sorted(existing.metadata)
    return render(
        '<section class="card conflict" aria-labelledby="replace-title">'
        '<h2 id="replace-title">Replacing “{name}” loses all of this</h2>'
        '<dl class="details"><dt>Type</dt><dd>{type}</dd>'
        "<dt>Secret fields</dt><dd>all of them (they are encrypted and not shown)</dd>"
        "<dt>Metadata fields</dt><dd>{keys}</dd>"
        "<dt>Last changed</dt><dd>{updated} (version {version})</dd>"
        "<dt>Last used</dt><dd>{used}</dd><dt>Created</dt><dd>{created}</dd></dl>"
        "<p>Agents using “{name}” get the new credential at once.</p>"
        '<p><input type="checkbox" id="replace" name="replace" value="{version}">'
        '<label for="replace" class="inline">Replace “{name}” (version {version})</label></p>'
        "</section>",
        name=existing.name,
        type=existing.type,
        keys=join((render("<code>{k}</code>", k=k) for k in keys), ", ") if keys else "none",
        updated=when(existing.updated_at),
        version=existing.version,
        used=when(existing.last_used_at),
        created=when(existing.created_at),
    )


def _typed_a_secret(form: dict[str, str]) -> bool:
    ctype = form.get("type", "")
    names = [f.form_name for f in FIELDS.get(ctype, ()) if f.section == "data" and f.secret]
    names += [k for k in form if k.startswith("custom.") and k.endswith(".value")]
    return any(form.get(n, "").strip() for n in names)


ADD_ROUTES = [new_form, create]
