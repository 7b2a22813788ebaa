"""Turning a posted add form into a :class:`StoreRequest`, and a posted edit form
into a :class:`CredentialEdit` that changes only what the person changed.

This module only maps form fields to the API's ``data`` and ``metadata``
shapes; every rule (required fields, base32, TOTP parameters, names, brokered
fields, request rules) is the core's, and its errors are shown next to the field
they name. A TOTP seed may be pasted as an ``otpauth://`` URI: the core's parser
reads it.

Editing never puts a stored secret into the page, nor reads one: the core merges
the edit into the stored credential. A secret field left blank keeps the stored
value (a TOTP seed too); metadata and the expiry change only where the person
changed an input (see :mod:`loomal.console.metadata_form`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import msgspec

from loomal.console.fields import BROKER_FIELDS, FIELDS, OTHER_METADATA, Field
from loomal.console.metadata_form import (
    metadata_changes,
    read_metadata,
    render_metadata,
    same_text,
)
from loomal.core.edits import CredentialEdit
from loomal.core.models import CredentialSummary, StoreRequest
from loomal.core.totp import parse_otpauth_uri
from loomal.errors import ValidationError

__all__ = [
    "EditSnapshot",
    "FormErrors",
    "edit_from_form",
    "field_of_error",
    "form_values",
    "request_from_form",
]


class FormErrors(Exception):
    """Errors to show next to fields: form name → message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("the form has errors")
        self.errors = errors


class EditSnapshot(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """What an edit form was opened with (a hidden input; nothing secret): the
    version its save requires, and the plaintext it is compared with, to tell
    what the person changed and, on a conflict, what changed meanwhile."""

    type: str
    version: int
    metadata: dict[str, Any]
    expires_at: datetime | None
    updated_at: datetime
    last_rotated_at: datetime | None

    @classmethod
    def of(cls, summary: CredentialSummary) -> EditSnapshot:
        return cls(
            type=summary.type,
            version=summary.version,
            metadata=summary.metadata,
            expires_at=summary.expires_at,
            updated_at=summary.updated_at,
            last_rotated_at=summary.last_rotated_at,
        )

    def encode(self) -> str:
        return msgspec.json.encode(self).decode()

    @classmethod
    def decode(cls, text: str) -> EditSnapshot:
        try:
            return msgspec.json.decode(text, type=cls)
        except msgspec.DecodeError:
            raise FormErrors({"_form": "This form is out of date: open Edit again."}) from None


_FIELD_IN_MESSAGE = re.compile(r"\b(data|metadata)\.([A-Za-z0-9_]+)(?:\.([A-Za-z]+))?")


def field_of_error(message: str, ctype: str) -> str:
    """Which form field a core validation message is about (else the form itself)."""
    if message.startswith("name "):
        return "name"
    if message.startswith("expiresAt"):
        return "expiresAt"
    match = _FIELD_IN_MESSAGE.search(message)
    if match:
        known = {f.form_name for f in (*FIELDS.get(ctype, ()), *BROKER_FIELDS)}
        section, key, part = match.groups()
        for name in (f"{section}.{key}.{part}" if part else "", f"{section}.{key}"):
            if name in known:
                return name
        if section == "metadata":
            return OTHER_METADATA.form_name
    if message.startswith(("otpauth", "data.secret")) and ctype == "TOTP":
        return "data.secret"
    return "_form"


def _data_fields(ctype: str) -> list[Field]:
    return [f for f in FIELDS[ctype] if f.section == "data"]


def _typed(field: Field, raw: str) -> Any:
    """A data input's value as posted: a list for one-per-line fields; a secret kept
    exactly as typed (a password may begin or end with a space), others stripped."""
    if field.lines:
        return [line.strip() for line in raw.splitlines() if line.strip()]
    if field.multiline or (field.secret and raw.strip()):
        return raw
    return raw.strip()


def _seed(field: Field, value: Any, errors: dict[str, str]) -> tuple[Any, dict[str, Any]]:
    """A seed pasted as an otpauth:// URI: its secret, and the metadata it carries."""
    if not (field.totp and isinstance(value, str) and value.lower().startswith("otpauth:")):
        return value, {}
    try:
        parsed = parse_otpauth_uri(value)
    except ValidationError as exc:
        errors[field.form_name] = exc.message
        return None, {}
    return parsed.secret, parsed.metadata()


def request_from_form(form: Mapping[str, str]) -> tuple[str, StoreRequest]:
    """The credential name and the store request a posted add form describes."""
    name = form.get("name", "").strip()
    ctype = form.get("type", "")
    if ctype not in FIELDS:
        raise FormErrors({"type": "Choose a type."})
    errors: dict[str, str] = {}
    metadata = read_metadata(ctype, form, errors)
    data: dict[str, Any] = {}
    if ctype == "CUSTOM":
        data = _new_custom_rows(form)
    for field in _data_fields(ctype):
        value, uri_metadata = _seed(field, _typed(field, form.get(field.form_name, "")), errors)
        if value:
            data[field.key] = value
        if ctype == "TOTP":
            metadata = {**uri_metadata, **metadata}
    expires = form.get("expiresAt", "").strip()
    expires_at = _expiry(expires, errors) if expires else None
    if errors:
        raise FormErrors(errors)
    return name, StoreRequest(type=ctype, data=data, metadata=metadata, expires_at=expires_at)


def edit_from_form(form: Mapping[str, str], opened: EditSnapshot) -> CredentialEdit:
    """What a posted edit form changes in the credential it was opened on."""
    ctype = opened.type
    errors: dict[str, str] = {}
    set_metadata, remove_metadata, changed = metadata_changes(ctype, form, opened.metadata, errors)
    set_data: dict[str, Any] = {}
    remove_data: set[str] = set()
    if ctype == "CUSTOM":
        set_data, remove_data = _edited_custom_rows(form, errors)
    for field in _data_fields(ctype):
        value, uri_metadata = _seed(field, _typed(field, form.get(field.form_name, "")), errors)
        if not value:
            continue  # blank: the stored value stays
        set_data[field.key] = value
        if ctype == "TOTP":  # the URI's parameters, unless the person set them here
            for key, meta in uri_metadata.items():
                if f"metadata.{key}" not in changed:
                    set_metadata[key] = meta
                    remove_metadata.discard(key)
    shown_expiry = form_values_expiry(opened.expires_at)
    posted_expiry = form.get("expiresAt", "").strip()
    change_expiry = not same_text(posted_expiry, shown_expiry)
    expires_at = _expiry(posted_expiry, errors) if change_expiry and posted_expiry else None
    if errors:
        raise FormErrors(errors)
    return CredentialEdit(
        set_data=set_data,
        remove_data=frozenset(remove_data),
        set_metadata=set_metadata,
        remove_metadata=frozenset(remove_metadata),
        change_expiry=change_expiry,
        expires_at=expires_at,
    )


def form_values_expiry(expires_at: datetime | None) -> str:
    return "" if expires_at is None else expires_at.strftime("%Y-%m-%d")


def form_values(opened: EditSnapshot, name: str) -> dict[str, str]:
    """The text of every input of an edit form opened on ``opened`` (no secret)."""
    values = {"name": name, **render_metadata(opened.type, opened.metadata)}
    if opened.expires_at is not None:
        values["expiresAt"] = form_values_expiry(opened.expires_at)
    return values


def carried_over(
    form: Mapping[str, str], opened: EditSnapshot, now: EditSnapshot, name: str
) -> dict[str, str]:
    """The inputs of a form opened again on ``now``, keeping what the person had
    changed on ``opened`` (a conflict: they review it over the new version)."""
    values = form_values(now, name)
    _, _, changed = metadata_changes(opened.type, form, opened.metadata, {})
    for form_name in changed:
        values[form_name] = form.get(form_name, "")
    if not same_text(form.get("expiresAt", "").strip(), form_values_expiry(opened.expires_at)):
        values["expiresAt"] = form.get("expiresAt", "")
    return values


def custom_row_keys(form: Mapping[str, str]) -> list[tuple[str, str]]:
    """The posted CUSTOM rows as (field name, the stored name it was shown with)."""
    rows = []
    index = 0
    while f"custom.{index}.key" in form:
        rows.append((form[f"custom.{index}.key"], form.get(f"custom.{index}.was", "")))
        index += 1
    return rows


def _new_custom_rows(form: Mapping[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for index, (key, _) in enumerate(custom_row_keys(form)):
        if key.strip():
            data[key.strip()] = form.get(f"custom.{index}.value", "")
    return data


def _edited_custom_rows(
    form: Mapping[str, str], errors: dict[str, str]
) -> tuple[dict[str, Any], set[str]]:
    """A row shown with a stored field: a blank value keeps it, a cleared name removes
    it; a row the person added sets its field."""
    changes: dict[str, Any] = {}
    removed: set[str] = set()
    for index, (raw_key, was) in enumerate(custom_row_keys(form)):
        key = raw_key.strip()
        value = form.get(f"custom.{index}.value", "")
        if was and key != was:
            removed.add(was)
            if key and not value:
                errors[f"custom.{index}.key"] = (
                    f"Type the value of {key} too: renaming {was} does not carry its value."
                )
                continue
        if key and (value or not was or key != was):
            changes[key] = value
    removed -= set(changes)
    return changes, removed


def _expiry(value: str, errors: dict[str, str]) -> str | None:
    """The form's date field (YYYY-MM-DD) as the API's ISO 8601 (end of that day, UTC)."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        errors["expiresAt"] = "Give a date as YYYY-MM-DD."
        return None
    return f"{day.isoformat()}T23:59:59Z"


def shown_custom_keys(rows: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(key, was) for key, was in rows if key.strip() or was]
