"""The shape of metadata.rules (SPEC "Request rules"): refused with a message that
names the rule and field, when stored through any surface."""

from __future__ import annotations

from typing import Any

import pytest

from loomal.core.request_rules import validate_request_rules
from loomal.errors import ValidationError
from tests.conftest import Api


@pytest.mark.parametrize(
    "rules",
    [
        [],
        [{"methods": ["GET"], "paths": ["/v1/**"]}],
        [
            {"methods": ["*"], "paths": ["/a/*", "/b"], "budget": {"max": 5, "perSeconds": 60}},
            {"methods": ["post"], "paths": ["/x"], "approval": {"windowSeconds": 600}},
        ],
        # windowSeconds 0: every call is approved on its own (the example)
        [{"methods": ["DELETE"], "paths": ["/v1/**"], "approval": {"windowSeconds": 0}}],
    ],
)
def test_rules_of_the_spec_shape_are_accepted(rules: Any) -> None:
    validate_request_rules(rules)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"methods": ["GET"]}, "metadata.rules must be an array of rules"),
        (["GET"], "metadata.rules[0] must be an object"),
        ([{"methods": ["GET"], "paths": ["/"], "path": "/"}], "unknown field 'path'"),
        ([{"paths": ["/"]}], "metadata.rules[0].methods must be"),
        ([{"methods": ["GET /"], "paths": ["/"]}], "metadata.rules[0].methods must be"),
        ([{"methods": ["GET"], "paths": []}], "metadata.rules[0].paths must be"),
        ([{"methods": ["GET"], "paths": ["v1"]}], "metadata.rules[0].paths must be"),
        (
            [{"methods": ["GET"], "paths": ["/"], "budget": {"max": 5}}],
            'metadata.rules[0].budget must be {"max"',
        ),
        (
            [{"methods": ["GET"], "paths": ["/"], "budget": {"max": True, "perSeconds": 1}}],
            "metadata.rules[0].budget.max must be a whole number of at least 1",
        ),
        (
            [{"methods": ["GET"], "paths": ["/"], "approval": {"windowSeconds": -1}}],
            "metadata.rules[0].approval.windowSeconds must be a whole number of at least 0",
        ),
    ],
)
def test_rules_of_another_shape_are_refused_naming_the_field(rules: Any, message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        validate_request_rules(rules)
    assert message in refused.value.message


def test_a_store_with_bad_rules_is_a_422_over_http(api: Api) -> None:
    body = {"type": "API_KEY", "data": {"key": "k"}, "metadata": {"rules": [{"paths": ["/"]}]}}
    refused = api.client.put("/v0/vault/x", json=body, headers=api.headers())
    assert refused.status_code == 422
    assert "metadata.rules[0].methods" in refused.json()["message"]
