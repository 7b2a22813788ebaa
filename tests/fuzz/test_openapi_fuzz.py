"""schemathesis against the server's own /v0/openapi.json, with a real key:
every operation, in schemathesis' positive mode (valid input by the document) and
negative mode (input the document forbids: wrong types, missing fields, values out
of range); no 5xx and no response the document does not describe (status, content
type, body schema).

Generated headers that frame the HTTP message itself (Transfer-Encoding,
Content-Length, Connection, ...) are dropped from each case: a malformed one is
refused by the HTTP server (granian) with a bare 400 before any of our code runs,
as HTTP requires; tests/server/test_hardening_server.py holds that behaviour.

Examples per operation and mode: 32 by default (1,792 requests, well under a
minute); 180 under CI=true or LOOMAL_FUZZ_FULL=1 (10,080 requests)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import IN_CI, ServerProcess, auth, start_server

pytestmark = pytest.mark.slow  # starts real server processes (not in make test-fast)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
FULL = IN_CI or os.environ.get("LOOMAL_FUZZ_FULL", "") == "1"
EXAMPLES_PER_OPERATION = 180 if FULL else 32  # x 33 operations x 2 modes
VAULT_OPERATIONS = {  # the identity's API: vault, history, approvals, requests, audit, fetch
    "GET /v0/vault",
    "GET /v0/vault/{name}",
    "PUT /v0/vault/{name}",
    "DELETE /v0/vault/{name}",
    "GET /v0/vault/{name}/totp",
    "POST /v0/vault/{name}/totp/backup",
    "POST /v0/vault/{name}/fetch",
    "GET /v0/whoami",
    "GET /v0/audit",
    "GET /v0/vault/{name}/versions",
    "POST /v0/vault/{name}/versions/{version}/restore",
    "POST /v0/vault/{name}/undelete",
    "GET /v0/approvals",
    "GET /v0/approvals/{approval_id}",
    "POST /v0/approvals/{approval_id}/approve",
    "POST /v0/approvals/{approval_id}/deny",
    "POST /v0/requests",
    "GET /v0/requests",
    "GET /v0/requests/{request_id}",
    "POST /v0/requests/{request_id}/fulfill",
    "POST /v0/requests/{request_id}/decline",
    "GET /v0/vault/{name}/oauth",
    "POST /v0/vault/{name}/oauth/refresh",
    "POST /v0/vault/{name}/oauth/connect",
    "GET /v0/oauth/callback",
}
FRAMING_HEADERS = frozenset(  # (Host stays: our router answers a bad one, in our shape)
    {"transfer-encoding", "content-length", "connection", "keep-alive", "te", "trailer"}
    | {"upgrade", "expect", "proxy-connection"}
)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Without the failed-authentication throttle: negative cases send malformed
    keys, and 429s would hide what the rest of the request does."""
    cwd = tmp_path_factory.mktemp("fuzz-server")
    proc = start_server("--data-dir", str(cwd / "data"), "--auth-failure-limit", "0", cwd=cwd)
    yield proc
    proc.stop()


@pytest.mark.parametrize(
    "mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
)
def test_every_operation_conforms_under_generated_input(
    fuzz_server: ServerProcess, mode: schemathesis.GenerationMode
) -> None:
    server = fuzz_server
    headers = auth(server.api_key or "")
    seeded = httpx.put(  # a TOTP credential (overwritten alike by both modes)
        server.base_url + "/v0/vault/gh",
        json={"type": "TOTP", "data": {"secret": "JBSWY3DPEHPK3PXP", "backupCodes": ["a"] * 1}},
        headers=headers,
    )
    assert seeded.status_code == 200
    schema = schemathesis.openapi.from_url(server.base_url + "/v0/openapi.json")
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # our own document must load whole: say why it did not
            raise result.err()
        operations.append(result.ok())
    labels = {operation.label for operation in operations}
    assert labels >= VAULT_OPERATIONS, VAULT_OPERATIONS - labels
    # described, not fuzzed: health has no input, and the proxy answers what the
    # credential's upstream answers (tests/server/test_proxy.py holds its behaviour)
    unfuzzed = {label for label in labels if " /v0/health" in label or " /v0/proxy/" in label}
    assert {"GET /v0/health", "HEAD /v0/health", "POST /v0/proxy/{name}/{path}"} <= unfuzzed
    operations = [operation for operation in operations if operation.label not in unfuzzed]
    labels -= unfuzzed
    platform = labels - VAULT_OPERATIONS  # the platform API, answered 401 to an identity key
    assert platform and all(" /v0/platform/" in label for label in platform), platform
    total = 0
    statuses: dict[int, int] = {}

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            nonlocal total
            for name in [name for name in case.headers or {} if name.lower() in FRAMING_HEADERS]:
                del case.headers[name]
            response = case.call(base_url=server.base_url, headers=headers)
            total += 1
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            case.validate_response(response, checks=CHECKS)

        check()
    print(f"\nfuzz ({mode.value}): {total} requests, statuses {dict(sorted(statuses.items()))}")
    # hypothesis may stop a little early
    assert total >= len(operations) * EXAMPLES_PER_OPERATION * 0.9, total
    assert not any(status >= 500 for status in statuses), statuses
    if mode == schemathesis.GenerationMode.POSITIVE:
        assert statuses.get(200, 0) > 50, statuses  # not only rejections


@pytest.mark.parametrize("path", ["/v0/vault", "/v0/vault/{name}", "/v0/vault/{name}/totp"])
def test_openapi_declares_auth_and_error_shape(fuzz_server: ServerProcess, path: str) -> None:
    document = httpx.get(fuzz_server.base_url + "/v0/openapi.json").json()
    operation = next(iter(document["paths"][path].values()))
    assert operation["security"] == [{"bearerAuth": []}]
    assert {"401", "403", "404", "422", "429", "500"} <= set(operation["responses"])
