"""Which of a credential's ``metadata.rules`` allows a brokered request (SPEC
"Request rules"): pure, no clock, no store.

A rule allows a method (``*``: any) on a path pattern, where ``*`` is exactly one
segment and ``**`` any number of them (none included); the query string is never
part of the match. The first rule in order that allows the request is the one
whose budget and approval apply. With no rule matching, the request is refused
before anything is sent: 403 ``request_not_allowed``, reason
``method_not_allowed`` (some rule has the path, none the method) or
``path_not_allowed``.

The path is matched in one canonical spelling, and that spelling is what is then
sent, so an upstream cannot read a path other than the one matched: dot segments
resolved (``paths.normalize_path``), empty segments (``//``) dropped,
percent-escapes of unreserved characters decoded and the others upper-cased. An
encoded separator (``%2F``, ``%5C``) is refused outright: servers disagree on
whether it splits a segment, so no rule could say what it allows.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loomal.broker.paths import normalize_path
from loomal.errors import PermissionDeniedError

__all__ = ["MatchedRule", "canonical_path", "match_rule"]

_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_SEPARATORS = frozenset({0x2F, 0x5C})


@dataclass(frozen=True, slots=True)
class MatchedRule:
    """The rule that allows a request: its place, its budget and approval, and a
    fingerprint that changes when the rule does (budgets and approval windows are
    kept per fingerprint, so editing a rule starts them afresh)."""

    index: int
    fingerprint: str
    budget: tuple[int, int] | None
    """(max, perSeconds)"""
    approval_window: int | None
    """None: no approval needed; else the seconds an approval grants (0: this call)."""


def _refused(reason: str, message: str) -> PermissionDeniedError:
    return PermissionDeniedError(message, code="request_not_allowed", reason=reason)


def _canonical_escape(match: re.Match[str]) -> str:
    byte = int(match.group(1), 16)
    if byte in _SEPARATORS:
        raise _refused(
            "encoded_separator",
            "The path holds an encoded / or \\ (%2F, %5C), which servers read differently; "
            "the credential's rules cannot allow it.",
        )
    return chr(byte) if byte in _UNRESERVED else f"%{match.group(1).upper()}"


def canonical_path(path: str) -> str:
    """``path`` in the one spelling rules are matched against (and that is sent)."""
    if "\\" in path:
        raise _refused("encoded_separator", "The path holds a \\, which servers read differently.")
    resolved = normalize_path(path)
    segments = [_ESCAPE.sub(_canonical_escape, s) for s in resolved.split("/") if s]
    trailing = "/" if resolved.endswith("/") and segments else ""
    return "/" + "/".join(segments) + trailing


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _path_matches(pattern: Sequence[str], path: Sequence[str]) -> bool:
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_path_matches(rest, path[i:]) for i in range(len(path) + 1))
    if not path:
        return False
    return (head == "*" or head == path[0]) and _path_matches(rest, path[1:])


def _pattern(path: str) -> list[str]:
    return [s if s in ("*", "**") else _ESCAPE.sub(_canonical_escape, s) for s in _segments(path)]


def _fingerprint(rule: Mapping[str, Any]) -> str:
    canonical = json.dumps(rule, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def match_rule(rules: Sequence[Mapping[str, Any]], method: str, path: str) -> MatchedRule:
    """The first rule allowing ``method`` on the canonical ``path``; 403
    ``request_not_allowed`` naming why when none does. ``rules`` have the shape
    ``core.request_rules`` checked when the credential was stored."""
    segments = _segments(path)
    path_seen = False
    for index, rule in enumerate(rules):
        if not any(_path_matches(_pattern(p), segments) for p in rule["paths"]):
            continue
        path_seen = True
        methods = {m.upper() for m in rule["methods"]}
        if "*" not in methods and method.upper() not in methods:
            continue
        budget = rule.get("budget")
        approval = rule.get("approval")
        return MatchedRule(
            index=index,
            fingerprint=_fingerprint(rule),
            budget=None if budget is None else (budget["max"], budget["perSeconds"]),
            approval_window=None if approval is None else approval["windowSeconds"],
        )
    shown = path[:200]
    if path_seen:
        raise _refused(
            "method_not_allowed",
            f"The credential's rules do not allow {method} on {shown} (another method is "
            "allowed there); nothing was sent.",
        )
    raise _refused(
        "path_not_allowed",
        f"The credential's rules allow no request to {shown}; nothing was sent.",
    )
