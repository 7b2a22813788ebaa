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

from loomal.core.approval_models import MAX_REASON_CHARS
from loomal.errors import ValidationError

__all__ = ["check_reason", "validate_request_rules", "validate_reveal"]

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


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""Control characters (tab and newline aside) and bidirectional overrides: a
reason is shown to a person, who must read what the agent wrote, not what it
makes the screen look like."""


def check_reason(reason: str | None) -> str | None:
    """An agent's stated reason for a held request, as kept and shown (plain text,
    trimmed; None when empty); ValidationError when longer than 500 characters or
    holding control characters."""
    if reason is None:
        return None
    reason = reason.strip()
    if len(reason) > MAX_REASON_CHARS:
        raise ValidationError(
            f"reason may be at most {MAX_REASON_CHARS} characters; it has {len(reason)}."
        )
    if _CONTROL.search(reason):
        raise ValidationError("reason must be plain text, without control characters.")
    return reason or None


def validate_reveal(reveal: Any) -> None:
    """``metadata.reveal``: only ``"approval"`` (an agent's read of the secret waits
    for a person) is a value; leave it out for today's behaviour."""
    if reveal != "approval":
        raise ValidationError(
            'metadata.reveal must be "approval" (an agent key\'s read of the secret waits '
            "for a person's approval); leave it out to read it without one."
        )
