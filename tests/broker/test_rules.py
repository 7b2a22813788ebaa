"""Which rule allows a request (pure): * and ** patterns, methods, the canonical
path every encoded spelling is reduced to, and the reasons a refusal names."""

from __future__ import annotations

from typing import Any

import pytest

from loomal.broker.rules import canonical_path, match_rule
from loomal.errors import BadRequestError, PermissionDeniedError

CRM: list[dict[str, Any]] = [
    {"methods": ["GET"], "paths": ["/v1/**"]},
    {"methods": ["POST"], "paths": ["/v1/emails"], "budget": {"max": 50, "perSeconds": 86400}},
    {"methods": ["DELETE"], "paths": ["/v1/contacts/*"], "approval": {"windowSeconds": 0}},
]


@pytest.mark.parametrize(
    ("method", "path", "index"),
    [
        ("GET", "/v1", 0),
        ("GET", "/v1/contacts/42/notes", 0),
        ("get", "/v1/contacts", 0),
        ("POST", "/v1/emails", 1),
        ("DELETE", "/v1/contacts/42", 2),
    ],
)
def test_the_first_rule_allowing_the_request_applies(method: str, path: str, index: int) -> None:
    assert match_rule(CRM, method, canonical_path(path)).index == index


def test_a_rule_carries_its_budget_and_approval() -> None:
    emails = match_rule(CRM, "POST", "/v1/emails")
    assert emails.budget == (50, 86400) and emails.approval_window is None
    delete = match_rule(CRM, "DELETE", "/v1/contacts/7")
    assert delete.budget is None and delete.approval_window == 0
    assert emails.fingerprint != delete.fingerprint


@pytest.mark.parametrize(
    ("method", "path", "reason"),
    [
        ("DELETE", "/v1/emails", "method_not_allowed"),
        ("PUT", "/v1/contacts/1", "method_not_allowed"),
        ("DELETE", "/v1/contacts/1/notes", "method_not_allowed"),  # * is one segment
        ("GET", "/v2/contacts", "path_not_allowed"),
        ("POST", "/v1/emails/x", "method_not_allowed"),
        ("GET", "/", "path_not_allowed"),
    ],
)
def test_a_request_no_rule_allows_is_refused_naming_why(
    method: str, path: str, reason: str
) -> None:
    with pytest.raises(PermissionDeniedError) as refused:
        match_rule(CRM, method, canonical_path(path))
    assert refused.value.code == "request_not_allowed"
    assert refused.value.reason == reason
    assert refused.value.http_status == 403


def test_star_method_allows_any_and_double_star_any_depth() -> None:
    rules = [{"methods": ["*"], "paths": ["/a/**/z"]}]
    for path in ("/a/z", "/a/b/z", "/a/b/c/z"):
        assert match_rule(rules, "PATCH", path).index == 0
    with pytest.raises(PermissionDeniedError):
        match_rule(rules, "GET", "/a/b/c")


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("/v1/contacts/../emails", "/v1/emails"),
        ("/v1/./emails", "/v1/emails"),
        ("/v1//emails", "/v1/emails"),
        ("/v1/%65mails", "/v1/emails"),  # an escaped unreserved character
        ("/v1/%2e%2E/v1/emails", "/v1/emails"),
        ("/v1/caf%c3%a9", "/v1/caf%C3%A9"),  # case of escapes
        ("/v1/emails/", "/v1/emails/"),
    ],
)
def test_paths_are_matched_in_one_canonical_spelling(given: str, canonical: str) -> None:
    assert canonical_path(given) == canonical


@pytest.mark.parametrize(
    "path",
    [
        "/v1/contacts%2F..%2F..%2Fadmin",
        "/v1/contacts/1%2Fdelete",
        "/v1/contacts/1%5cx",
        "/v1/contacts\\x",
    ],
)
def test_an_encoded_separator_cannot_slip_past_a_rule(path: str) -> None:
    with pytest.raises((PermissionDeniedError, BadRequestError)):
        match_rule(CRM, "GET", canonical_path(path))


def test_a_path_climbing_above_the_root_is_refused() -> None:
    with pytest.raises(BadRequestError):
        canonical_path("/v1/../../admin")


def test_an_escaped_rule_pattern_matches_its_canonical_request() -> None:
    rules = [{"methods": ["GET"], "paths": ["/caf%c3%a9/%7euser"]}]
    assert match_rule(rules, "GET", canonical_path("/caf%C3%A9/~user")).index == 0
