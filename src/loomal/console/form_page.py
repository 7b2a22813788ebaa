"""The add / edit form: all twelve types' fields in one page (the script shows the
chosen type's; the others are hidden and disabled, so never submitted), each
with its label, hint and the server's error next to it. Secret inputs are
masked, with a Show toggle, and never pre-filled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from loomal.console.forms import CREDENTIAL_TYPES, CUSTOM_ROWS, FIELDS, Field
from loomal.console.markup import Html, attrs, join, render
from loomal.console.pages import csrf_field, layout
from loomal.console.sessions import ConsoleSession

__all__ = ["form_page"]


def _field_input(ctype: str, field: Field, value: str, *, editing: bool, error: str | None) -> Html:
    fid = f"f-{ctype}-{field.key}" if field.section == "data" else f"f-{ctype}-m-{field.key}"
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
                for c in ("", *field.choices)
            ),
        )
    elif field.multiline:
        masked = Html(' class="masked"') if field.secret else Html("")
        control = render('<textarea{a}{m} rows="4">{v}</textarea>', a=common, m=masked, v=value)
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


def _custom_rows(rows: Sequence[tuple[str, str]], errors: Mapping[str, str]) -> Html:
    padded = [*rows, *[("", "")] * max(1, CUSTOM_ROWS - len(rows))]
    body = join(
        render(
            '<div class="kv"><label for="c-{i}-k">Field name {n}</label>'
            '<input id="c-{i}-k" name="custom.{i}.key" value="{k}" autocomplete="off">'
            '<label for="c-{i}-v">Value {n}</label>'
            '<input id="c-{i}-v" name="custom.{i}.value" type="password" autocomplete="off">'
            '<button type="button" class="secondary toggle" data-toggle="c-{i}-v" '
            'aria-pressed="false" aria-label="Show value {n}">Show</button></div>',
            i=i,
            n=i + 1,
            k=key,
        )
        for i, (key, _value) in enumerate(padded)
    )
    return render(
        '<fieldset id="custom-rows"><legend>Secret fields (key and value)</legend>{rows}'
        '<button type="button" id="add-row" class="secondary">Add a field</button></fieldset>',
        rows=body,
    )


def form_page(
    session: ConsoleSession,
    *,
    ctype: str,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    editing: str | None = None,
    custom_keys: Sequence[str] = (),
) -> Html:
    """The add form (all twelve types' fields; the script shows the chosen one's),
    or the edit form of credential ``editing`` (its type fixed)."""

    def field_error(name: str) -> Html:
        return (
            render('<p class="error" id="e-{n}">{e}</p>', n=name, e=errors[name])
            if (name in errors)
            else Html("")
        )

    fieldsets = []
    for t in CREDENTIAL_TYPES:
        if editing and t != ctype:
            continue

        def inputs(section: str, t: str = t) -> Html:
            return join(
                _field_input(
                    t,
                    f,
                    "" if f.section == "data" and f.secret else values.get(f.form_name, ""),
                    editing=editing is not None,
                    error=errors.get(f.form_name) if t == ctype else None,
                )
                for f in FIELDS[t]
                if f.section == section
            )

        inner = (
            _custom_rows([(k, "") for k in custom_keys], errors)
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
    type_control = render(
        '<select id="type" name="type"{lock}>{o}</select>',
        lock=Html(' data-locked="1"') if editing else Html(""),
        o=join(
            render("<option{sel}>{t}</option>", t=t, sel=Html(" selected") if t == ctype else "")
            for t in ((ctype,) if editing else CREDENTIAL_TYPES)
        ),
    )
    name_attrs = attrs(
        readonly=bool(editing), aria_describedby="e-name" if "name" in errors else None
    )
    body = render(
        '<form method="post" action="{action}" class="card" id="credential-form" novalidate>'
        "{csrf}{form_error}"
        '<div class="field"><label for="name">Name</label>'
        '<input id="name" name="name" value="{name}" autocomplete="off" required '
        "{name_attrs}>{name_error}"
        '<p class="hint">1-128 of A-Z a-z 0-9 . _ -</p></div>'
        '<div class="field"><label for="type">Type</label>{type_control}</div>'
        "{fieldsets}"
        '<div class="field"><label for="expiresAt">Expires on (optional)</label>'
        '<input id="expiresAt" name="expiresAt" type="date" value="{expires}">{exp_error}</div>'
        '<p class="actions"><button type="submit">Save</button> '
        '<a class="button secondary" href="{cancel}">Cancel</a></p></form>',
        action=f"/credentials/{editing}/edit" if editing else "/add",
        csrf=csrf_field(session),
        form_error=render('<p class="error" role="alert">{e}</p>', e=errors["_form"])
        if "_form" in errors
        else "",
        name=values.get("name", ""),
        name_attrs=name_attrs,
        name_error=field_error("name"),
        type_control=type_control,
        fieldsets=join(fieldsets),
        expires=values.get("expiresAt", ""),
        exp_error=field_error("expiresAt"),
        cancel=f"/credentials/{editing}" if editing else "/credentials",
    )
    if errors:
        body = (
            Html('<p class="error" role="alert">The credential was not saved: see below.</p>')
            + body
        )
    return layout(f"Edit {editing}" if editing else "Add credential", body, session)
