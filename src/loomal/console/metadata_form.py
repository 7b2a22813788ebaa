"""Metadata in the add/edit form: how each input shows a stored value, how a posted
input is read back, and which metadata fields an edit changes.

Each metadata key has one input (``inject`` has four, its parts), and "Other
metadata" holds, as JSON, every key no other input does: so every stored field
is in the form, and none is lost by saving it.

An edit changes a key only when the person changed its input: the inputs are
rendered again from the metadata the form was opened with, and an input posted
with the very text it was given changes nothing. A value the form shows
differently from how it is stored (a number shown as text, a list one item a
line) is therefore kept exactly as stored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from loomal.console.fields import BROKER_FIELDS, FIELDS, OTHER_METADATA, Field

__all__ = [
    "MetadataInput",
    "metadata_changes",
    "metadata_inputs",
    "read_metadata",
    "render_metadata",
    "same_text",
]


@dataclass(frozen=True, slots=True)
class MetadataInput:
    """The inputs of one metadata key (``key`` "*": every key no other input holds)."""

    key: str
    fields: tuple[Field, ...]

    @property
    def form_names(self) -> tuple[str, ...]:
        return tuple(f.form_name for f in self.fields)


def metadata_inputs(ctype: str) -> list[MetadataInput]:
    """The metadata inputs of a credential type: its own, the brokered ones, "other"."""
    own = [f for f in FIELDS.get(ctype, ()) if f.section == "metadata"]
    keys: dict[str, list[Field]] = {}
    for field in (*own, *BROKER_FIELDS):
        keys.setdefault(field.key, []).append(field)
    return [
        *(MetadataInput(key, tuple(fields)) for key, fields in keys.items()),
        MetadataInput(OTHER_METADATA.key, (OTHER_METADATA,)),
    ]


def _held_keys(inputs: Iterable[MetadataInput]) -> set[str]:
    return {i.key for i in inputs if i.key != OTHER_METADATA.key}


def render_metadata(ctype: str, metadata: Mapping[str, Any]) -> dict[str, str]:
    """Each input's text for ``metadata`` (form name → text; absent when blank)."""
    inputs = metadata_inputs(ctype)
    held = _held_keys(inputs)
    texts: dict[str, str] = {}
    for item in inputs:
        if item.key == OTHER_METADATA.key:
            other = {k: v for k, v in metadata.items() if k not in held}
            if other:
                texts[OTHER_METADATA.form_name] = _json_text(other)
        elif item.key in metadata:
            texts.update(_render_key(item, metadata[item.key]))
    return texts


def _render_key(item: MetadataInput, value: Any) -> dict[str, str]:
    if item.key == "inject" and isinstance(value, Mapping):
        where = "header" if "header" in value else "query" if "query" in value else ""
        parts = {
            "metadata.inject": where,
            "metadata.inject.name": value.get(where, "") if where else "",
            "metadata.inject.prefix": value.get("prefix", ""),
            "metadata.inject.template": value.get("template", ""),
        }
        return {k: v for k, v in parts.items() if isinstance(v, str) and v}
    field = item.fields[0]
    if item.key == "rules" and isinstance(value, list) and value:  # one rule a line
        return {field.form_name: "[\n" + ",\n".join(f"  {_json_line(r)}" for r in value) + "\n]"}
    if field.lines and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return {field.form_name: "\n".join(value)}
    if isinstance(value, str) and (field.multiline or "\n" not in value):
        return {field.form_name: value}
    return {field.form_name: _json_text(value)}


def _json_line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _json_text(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def same_text(posted: str, shown: str) -> bool:
    """Whether a posted input is the text it was shown with. Browsers post a text
    area's line breaks as CRLF and drop line breaks from a one-line input."""

    def plain(text: str) -> str:
        return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "")

    return plain(posted) == plain(shown)


def read_metadata(ctype: str, form: Mapping[str, str], errors: dict[str, str]) -> dict[str, Any]:
    """The metadata every input of a posted add form describes."""
    metadata: dict[str, Any] = {}
    inputs = metadata_inputs(ctype)
    for item in inputs:
        metadata.update(_read_input(item, form, errors, _held_keys(inputs)))
    return metadata


def metadata_changes(
    ctype: str, form: Mapping[str, str], opened_with: Mapping[str, Any], errors: dict[str, str]
) -> tuple[dict[str, Any], set[str], list[str]]:
    """What a posted edit form changes in ``opened_with`` (the metadata it was opened
    with): keys to set, keys to remove, and the form names of the inputs changed."""
    shown = render_metadata(ctype, opened_with)
    inputs = metadata_inputs(ctype)
    held = _held_keys(inputs)
    changes: dict[str, Any] = {}
    removed: set[str] = set()
    changed_inputs: list[str] = []
    for item in inputs:
        if all(same_text(form.get(n, ""), shown.get(n, "")) for n in item.form_names):
            continue
        changed_inputs += item.form_names
        read = _read_input(item, form, errors, held)
        owned = (
            {k for k in opened_with if k not in held}
            if item.key == OTHER_METADATA.key
            else {item.key}
        )
        changes.update(read)
        removed |= owned - set(read)
    return changes, removed, changed_inputs


def _read_input(
    item: MetadataInput, form: Mapping[str, str], errors: dict[str, str], held: set[str]
) -> dict[str, Any]:
    """The key(s) a posted input holds ({} when blank); a mistake goes to ``errors``."""
    if item.key == "inject":
        return _read_inject(form, errors)
    field = item.fields[0]
    raw = form.get(field.form_name, "")
    if item.key == OTHER_METADATA.key:
        other = _read_json(raw, field, errors, "Other metadata")
        if other is None:
            return {}
        if not isinstance(other, dict):
            errors[field.form_name] = 'Other metadata must be a JSON object, e.g. {"team": "a"}.'
            return {}
        taken = sorted(set(other) & held)
        if taken:
            errors[field.form_name] = f"{taken[0]} has its own input above: change it there."
            return {}
        return other
    if item.key == "rules":
        rules = _read_json(raw, field, errors, "Request rules")
        return {} if rules is None else {"rules": rules}
    if field.lines:
        lines = [line.strip() for line in raw.splitlines() if line.strip()]
        return {item.key: lines} if lines else {}
    value = raw if field.multiline else raw.strip()
    return {item.key: value} if value.strip() else {}


def _read_inject(form: Mapping[str, str], errors: dict[str, str]) -> dict[str, Any]:
    where = form.get("metadata.inject", "").strip()
    name = form.get("metadata.inject.name", "").strip()
    prefix = form.get("metadata.inject.prefix", "")  # "Token " ends with its space
    template = form.get("metadata.inject.template", "")
    if not (where or name or prefix or template):
        return {}
    if where not in ("header", "query"):
        errors["metadata.inject"] = "Choose whether to inject into a header or a query parameter."
        return {}
    inject: dict[str, Any] = {where: name}
    if prefix:
        inject["prefix"] = prefix
    if template:
        inject["template"] = template
    return {"inject": inject}


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text[:20]} is too large")
    return number


def _read_json(raw: str, field: Field, errors: dict[str, str], what: str) -> Any:
    """``raw`` parsed as JSON (None when blank), or None with an error saying where."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite)
    except json.JSONDecodeError as error:
        errors[field.form_name] = (
            f"{what} must be JSON: {error.msg} at line {error.lineno}, column {error.colno}."
        )
    except (ValueError, RecursionError) as error:
        errors[field.form_name] = f"{what} must be JSON: {str(error)[:80]}."
    return None
