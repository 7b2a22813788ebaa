"""The shape of ``metadata.rules`` (SPEC "Request rules"), checked when a credential
is stored, so a typo is a 422 naming the rule and field then, not a surprise at the
first brokered request.

    [{"methods": ["GET"], "paths": ["/v1/**"],
      "budget": {"max": 100, "perSeconds": 3600}, "approval": {"windowSeconds": 600}}]

Only the shape is checked here; what a rule allows is the broker's to decide.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from loomal.errors import ValidationError

__all__ = ["validate_request_rules"]

_METHOD = re.compile(r"[A-Za-z]{1,16}|\*")
_FIELDS = {"methods", "paths", "budget", "approval"}
_EXAMPLE = '[{"methods": ["GET"], "paths": ["/v1/**"]}]'


def validate_request_rules(rules: Any) -> None:
    """Refuse (ValidationError) ``rules`` that are not the SPEC's list of rules."""
    if not isinstance(rules, list):
        raise ValidationError(f"metadata.rules must be an array of rules, e.g. {_EXAMPLE}.")
    for index, rule in enumerate(rules):
        where = f"metadata.rules[{index}]"
        if not isinstance(rule, Mapping):
            raise ValidationError(f"{where} must be an object, e.g. {_EXAMPLE[1:-1]}.")
        unknown = sorted(set(rule) - _FIELDS)
        if unknown:
            raise ValidationError(
                f"{where}: unknown field {unknown[0]!r} (a rule has methods, paths, "
                "budget and approval)."
            )
        methods = rule.get("methods")
        if not _strings(methods) or not all(_METHOD.fullmatch(m) for m in methods or ()):
            raise ValidationError(
                f'{where}.methods must be a non-empty array of HTTP methods, e.g. ["GET"].'
            )
        paths = rule.get("paths")
        if not _strings(paths) or not all(p.startswith("/") for p in paths or ()):
            raise ValidationError(
                f"{where}.paths must be a non-empty array of paths starting with /, e.g. "
                '["/v1/**"] (* is one segment, ** any).'
            )
        if "budget" in rule:
            _counts(rule["budget"], f"{where}.budget", ("max", "perSeconds"))
        if "approval" in rule:
            _counts(rule["approval"], f"{where}.approval", ("windowSeconds",), least=0)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)


def _counts(value: Any, where: str, fields: tuple[str, ...], *, least: int = 1) -> None:
    shape = ", ".join(f'"{f}": <whole number>' for f in fields)
    if not isinstance(value, Mapping) or set(value) != set(fields):
        raise ValidationError(f"{where} must be {{{shape}}}.")
    for name in fields:
        count = value[name]
        if isinstance(count, bool) or not isinstance(count, int) or count < least:
            raise ValidationError(f"{where}.{name} must be a whole number of at least {least}.")
