"""schemathesis against the server's own /v0/openapi.json, with a real key:
every operation (seven), ≥1,000 generated requests in all; no 5xx and no response the
document does not describe (status, content type, body schema)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import ServerProcess, auth

pytestmark = pytest.mark.slow  # starts real server processes (not in make test-fast)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 200


def test_every_operation_conforms_under_generated_input(server: ServerProcess) -> None:
    headers = auth(server.api_key or "")
    seeded = httpx.put(
        server.base_url + "/v0/vault/gh",
        json={"type": "TOTP", "data": {"secret": "JBSWY3DPEHPK3PXP", "backupCodes": ["a"] * 1}},
        headers=headers,
    )
    assert seeded.status_code == 201
    schema = schemathesis.openapi.from_url(server.base_url + "/v0/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 8  # the six vault routes, whoami and the audit log
    total = 0
    statuses: dict[int, int] = {}

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            nonlocal total
            response = case.call(base_url=server.base_url, headers=headers)
            total += 1
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            case.validate_response(response, checks=CHECKS)

        check()
    print(f"\nfuzz: {total} requests, statuses {dict(sorted(statuses.items()))}")
    assert total >= 1000, total
    assert not any(status >= 500 for status in statuses), statuses
    assert statuses.get(200, 0) + statuses.get(201, 0) > 50, statuses  # not only rejections


@pytest.mark.parametrize("path", ["/v0/vault", "/v0/vault/{name}", "/v0/vault/{name}/totp"])
def test_openapi_declares_auth_and_error_shape(server: ServerProcess, path: str) -> None:
    document = httpx.get(server.base_url + "/v0/openapi.json").json()
    operation = next(iter(document["paths"][path].values()))
    assert operation["security"] == [{"bearerAuth": []}]
    assert {"401", "403", "404", "422", "429", "500"} <= set(operation["responses"])
