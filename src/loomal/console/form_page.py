"""The add / edit form: all twelve types' fields in one page (the script shows the
chosen type's; the others are hidden and disabled, so never submitted), then the
inputs every type shares (brokered use, other metadata, expiry), each with its
label, hint and the server's error next to it. Secret inputs are masked, with a
Show toggle, and never pre-filled. An edit form carries the version and the
metadata it was opened with (:class:`EditSnapshot`), so its save changes only
what the person changed and never overwrites a change made meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from loomal.console.fields import (
    BROKER_FIELDS,
    CREDENTIAL_TYPES,
    CUSTOM_ROWS,
    FIELDS,
    OTHER_METADATA,
    Field,
)
from loomal.console.forms import EditSnapshot
from loomal.console.markup import Html, attrs, join, render
from loomal.console.pages import csrf_field, layout
from loomal.console.sessions import ConsoleSession

__all__ = ["AnsweredAsk", "form_page"]


@dataclass(frozen=True, slots=True)
class AnsweredAsk:
    """Where the add form goes when it answers an access request, and what the page
    shows above it (the request, as plain text)."""

    title: str
    action: str
    cancel: str
    before: Html


def _field_input(fid: str, field: Field, value: str, *, editing: bool, error: str | None) -> Html:
    described = []
    hint = field.hint
    if editing and field.section == "data":
        hint = (hint + ". " if hint else "") + "Leave blank to keep the stored value"
    hint_html = Html("")
    if hint:
        described.append(fid + "-hint")
        hint_html = render('<p class="hint" id="{id}">{h}</p>', id=fid + "-hint", h=hint)
    error_html = Html("")
    if error:
        described.append(fid + "-error")
        error_html = render('<p class="error" id="{id}">{e}</p>', id=fid + "-error", e=error)
    common = attrs(
        id=fid,
        name=field.form_name,
        autocomplete="off",
        spellcheck="false",
        aria_describedby=" ".join(described) or None,
        aria_invalid="true" if error else None,
    )
    if field.choices:
        control = render(
            "<select{a}>{o}</select>",
            a=common,
            o=join(
                render(
                    "<option{sel}>{c}</option>", c=c, sel=Html(" selected") if c == value else ""
                )
                # a stored value the choices lack stays selected, so saving keeps it
                for c in (
                    "",
                    *field.choices,
                    *([value] if value not in ("", *field.choices) else []),
                )
            ),
        )
    elif field.multiline:
        masked = Html(' class="masked"') if field.secret else Html("")
        # A browser drops one line break after <textarea>: this one, not the value's.
        control = render('<textarea{a}{m} rows="4">\n{v}</textarea>', a=common, m=masked, v=value)
    else:
        kind = "password" if field.secret else "text"
        control = render('<input type="{t}"{a} value="{v}">', t=kind, a=common, v=value)
    toggle = Html("")
    if field.secret:
        toggle = render(
            '<button type="button" class="secondary toggle" data-toggle="{id}" '
            'aria-pressed="false" aria-label="Show {label}">Show</button>',
            id=fid,
            label=field.label,
        )
    qr = Html("")
    if field.totp:
        qr = render(
            '<label class="file" for="{id}-qr">Or read a QR code image</label>'
            '<input type="file" id="{id}-qr" accept="image/*" data-qr-target="{id}">'
            '<p class="muted" id="{id}-qr-status" aria-live="polite"></p>',
            id=fid,
        )
    return render(
        '<div class="field"><label for="{id}">{label}</label>'
        '<div class="control">{control}{toggle}</div>{hint}{error}{qr}</div>',
        id=fid,
        label=field.label,
        control=control,
        toggle=toggle,
        hint=hint_html,
        error=error_html,
        qr=qr,
    )


def _custom_rows(
    rows: Sequence[tuple[str, str]], errors: Mapping[str, str], *, note: str | None
) -> Html:
    """Key/value rows; a row shown with a stored field (``was``) keeps its value
    while its Value stays blank, and loses the field when its name is cleared."""
    padded = [*rows, *[("", "")] * max(1, CUSTOM_ROWS - len(rows))]
    body = join(
        render(
            '<div class="kv"><label for="c-{i}-k">Field name {n}</label>'
            '<input id="c-{i}-k" name="custom.{i}.key" value="{k}" autocomplete="off"{inv}>'
            '<label for="c-{i}-v">Value {n}</label>'
            '<input id="c-{i}-v" name="custom.{i}.value" type="password" autocomplete="off"'
            "{placeholder}>"
            '<button type="button" class="secondary toggle" data-toggle="c-{i}-v" '
            'aria-pressed="false" aria-label="Show value {n}">Show</button>{was}{error}</div>',
            i=i,
            n=i + 1,
            k=key,
            inv=Html(' aria-invalid="true"') if f"custom.{i}.key" in errors else "",
            placeholder=Html(' placeholder="unchanged"') if was else "",
            was=render('<input type="hidden" name="custom.{i}.was" value="{w}">', i=i, w=was)
            if was
            else "",
            error=render('<p class="error">{e}</p>', e=errors[f"custom.{i}.key"])
            if f"custom.{i}.key" in errors
            else "",
        )
        for i, (key, was) in enumerate(padded)
    )
    return render(
        '<fieldset id="custom-rows"><legend>Secret fields (key and value)</legend>{note}{rows}'
        '<button type="button" id="add-row" class="secondary">Add a field</button></fieldset>',
        rows=body,
        note=render('<p class="hint">{n}</p>', n=note) if note else "",
    )


_BLANK_KEEPS_CUSTOM = "A blank value keeps the stored one; clear a field's name to remove it."


def _inputs(
    prefix: str,
    fields: Sequence[Field],
    values: Mapping[str, str],
    errors: Mapping[str, str],
    *,
    editing: bool,
) -> Html:
    return join(
        _field_input(
            _input_id(prefix, f),
            f,
            "" if f.section == "data" and f.secret else values.get(f.form_name, ""),
            editing=editing,
            error=errors.get(f.form_name),
        )
        for f in fields
    )


def _input_id(prefix: str, field: Field) -> str:
    section = "" if field.section == "data" else "m-"
    return f"{prefix}-{section}{(field.form_key or field.key).replace('.', '-')}"


def form_page(
    session: ConsoleSession,
    *,
    ctype: str,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    editing: str | None = None,
    opened: EditSnapshot | None = None,
    custom_keys: Sequence[tuple[str, str]] = (),
    custom_note: str | None = None,
    notice: Html | None = None,
    replace: Html | None = None,
    answering: AnsweredAsk | None = None,
) -> Html:
    """The add form (all twelve types' fields; the script shows the chosen one's),
    or the edit form of credential ``editing`` opened on ``opened`` (its type fixed).
    ``custom_keys``: CUSTOM rows as (field name, stored name it was shown with).
    ``answering``: the add form of an agent's access request, its name and type
    fixed, posted to and cancelled back to the request's page."""

    def field_error(name: str) -> Html:
        return (
            render('<p class="error" id="e-{n}">{e}</p>', n=name, e=errors[name])
            if (name in errors)
            else Html("")
        )

    is_edit = editing is not None
    locked = is_edit or answering is not None
    """The type and name are given (an edit's, a request's)."""
    fieldsets = []
    for t in CREDENTIAL_TYPES:
        if locked and t != ctype:
            continue
        own_errors = errors if t == ctype else {}

        def inputs(section: str, t: str = t, own: Mapping[str, str] = own_errors) -> Html:
            fields = [f for f in FIELDS[t] if f.section == section]
            return _inputs(f"f-{t}", fields, values, own, editing=is_edit)

        inner = (
            _custom_rows(
                custom_keys,
                own_errors,
                note=custom_note or (_BLANK_KEEPS_CUSTOM if is_edit else None),
            )
            if t == "CUSTOM"
            else render(
                '<h2 class="section">Data <span class="muted">encrypted</span></h2>{data}'
                "{meta_heading}{meta}",
                data=inputs("data"),
                meta_heading=Html(
                    '<h2 class="section">Metadata <span class="muted">plaintext, shown in '
                    "lists</span></h2>"
                )
                if any(f.section == "metadata" for f in FIELDS[t])
                else "",
                meta=inputs("metadata"),
            )
        )
        fieldsets.append(
            render(
                '<fieldset class="type-fields" data-type="{t}"{hidden}>'
                "<legend>{t} fields</legend>{inner}</fieldset>",
                t=t,
                inner=inner,
                hidden=Html("") if t == ctype else Html(" hidden disabled"),
            )
        )
    shared = render(
        '<fieldset id="brokered"><legend>Use without reveal <span class="muted">plaintext'
        "</span></legend>"
        '<p class="hint">How agents with vault:use may send this credential in brokered '
        "requests (the fetch call and the proxy), never seeing it.</p>{broker}</fieldset>"
        '<fieldset id="other-metadata"><legend>More metadata</legend>{other}</fieldset>',
        broker=_inputs("b", BROKER_FIELDS, values, errors, editing=is_edit),
        other=_inputs("o", (OTHER_METADATA,), values, errors, editing=is_edit),
    )
    type_control = render(
        '<select id="type" name="type"{lock}>{o}</select>',
        lock=Html(' data-locked="1"') if locked else Html(""),
        o=join(
            render("<option{sel}>{t}</option>", t=t, sel=Html(" selected") if t == ctype else "")
            for t in ((ctype,) if locked else CREDENTIAL_TYPES)
        ),
    )
    name_attrs = attrs(readonly=locked, aria_describedby="e-name" if "name" in errors else None)
    body = render(
        '<form method="post" action="{action}" class="card" id="credential-form" novalidate>'
        "{csrf}{snapshot}{form_error}"
        '<div class="field"><label for="name">Name</label>'
        '<input id="name" name="name" value="{name}" autocomplete="off" required '
        "{name_attrs}>{name_error}"
        '<p class="hint">1-128 of A-Z a-z 0-9 . _ -</p></div>{replace}'
        '<div class="field"><label for="type">Type</label>{type_control}</div>'
        "{fieldsets}{shared}"
        '<div class="field"><label for="expiresAt">Expires on (optional)</label>'
        '<input id="expiresAt" name="expiresAt" type="date" value="{expires}">{exp_error}'
        '<p class="hint">The end of that day, UTC{exact}</p></div>'
        '<p class="actions"><button type="submit">Save</button> '
        '<a class="button secondary" href="{cancel}">Cancel</a></p></form>',
        action=answering.action
        if answering is not None
        else (f"/credentials/{editing}/edit" if is_edit else "/add"),
        csrf=csrf_field(session),
        snapshot=render('<input type="hidden" name="snapshot" value="{s}">', s=opened.encode())
        if opened is not None
        else "",
        form_error=render('<p class="error" role="alert">{e}</p>', e=errors["_form"])
        if "_form" in errors
        else "",
        name=values.get("name", ""),
        name_attrs=name_attrs,
        name_error=field_error("name"),
        replace=replace or "",
        type_control=type_control,
        fieldsets=join(fieldsets),
        shared=shared,
        expires=values.get("expiresAt", ""),
        exp_error=field_error("expiresAt"),
        exact=_exact_expiry(opened),
        cancel=answering.cancel
        if answering is not None
        else (f"/credentials/{editing}" if is_edit else "/credentials"),
    )
    if errors:
        body = (
            Html('<p class="error" role="alert">The credential was not saved: see below.</p>')
            + body
        )
    if notice is not None:
        body = notice + body
    if answering is not None:
        return layout(answering.title, answering.before + body, session)
    return layout(f"Edit {editing}" if is_edit else "Add credential", body, session)


def _exact_expiry(opened: EditSnapshot | None) -> str:
    if opened is None or opened.expires_at is None:
        return ""
    return f"; now exactly {opened.expires_at:%Y-%m-%dT%H:%M:%SZ}, kept unless you change the date"
