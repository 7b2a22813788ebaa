"""``/mcp`` at the HTTP edge, in-process (the whole app: routing, security
headers, the mount): what a client gets before MCP runs, in the API's shapes."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from httpx import Response

from tests.conftest import Api

MCP_ACCEPT = {"Accept": "application/json, text/event-stream"}
TOOLS_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


def assert_security_headers_once(response: Response) -> None:
    counts = Counter(name.lower() for name, _ in response.headers.multi_items())
    for name in ("cache-control", "x-content-type-options", "referrer-policy"):
        assert counts[name] == 1, (name, response.headers.multi_items())


def post(api: Api, body: Any = None, headers: dict[str, str] | None = None, **kw: Any) -> Response:
    response: Response = api.client.post(
        "/mcp", json=body, headers={**MCP_ACCEPT, **(headers or {})}, **kw
    )
    return response


@pytest.mark.parametrize(
    ("authorization", "message", "reason"),
    [
        (None, "Missing API key: send Authorization: Bearer loid-...", "missing_api_key"),
        ("Bearer loid-" + "x" * 43, "Invalid API key.", "invalid_api_key"),
        ("Basic dXNlcjpwYXNz", "Invalid API key.", "invalid_api_key"),
    ],
)
def test_a_missing_or_bad_key_gets_401_with_a_bearer_challenge(
    api: Api, authorization: str | None, message: str, reason: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = post(api, TOOLS_LIST, headers)
    assert response.status_code == 401
    assert response.json() == {
        "error": "unauthorized",
        "message": message,
        "status": 401,
        "reason": reason,
    }
    assert response.headers["www-authenticate"] == (
        f'Bearer error="invalid_token", error_description="{message}"'
    )
    assert_security_headers_once(response)


def test_get_is_405_allow_post_in_the_json_error_shape(api: Api) -> None:
    for method in ("GET", "DELETE", "PUT"):
        response = api.client.request(method, "/mcp", headers={**MCP_ACCEPT, **api.headers()})
        assert response.status_code == 405, method
        assert response.headers["allow"] == "POST"
        assert response.json()["error"] == "method_not_allowed"
        assert response.json()["status"] == 405
        assert_security_headers_once(response)


def test_a_body_over_64_kib_is_413_in_the_json_error_shape(api: Api) -> None:
    body = {**TOOLS_LIST, "params": {"padding": "a" * (64 * 1024)}}
    response = post(api, body, api.headers())
    assert response.status_code == 413
    assert response.json() == {
        "error": "payload_too_large",
        "message": "The request body is larger than 64 KiB.",
        "status": 413,
    }
    assert_security_headers_once(response)
    chunks = iter([b'{"jsonrpc": "2.0", "x": "' + b"a" * 40_000, b"a" * 40_000 + b'"}'])
    streamed = api.client.post(
        "/mcp",
        content=chunks,
        headers={**MCP_ACCEPT, **api.headers(), "Content-Type": "application/json"},
    )
    assert "content-length" not in streamed.request.headers
    assert streamed.status_code == 413
    assert streamed.json()["error"] == "payload_too_large"
    small = {**TOOLS_LIST, "params": {"padding": "a" * (60 * 1024)}}
    assert post(api, small, api.headers()).status_code == 200


def test_json_nested_past_the_parser_is_a_parse_error_not_a_500(api: Api) -> None:
    depth = 30_000  # within 64 KiB, far past Python's recursion limit
    arguments = '{"name": "deep", "type": "CUSTOM", "data": {"a": ' + "[" * depth + "]" * depth
    body = '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "vault_store", '
    response = api.client.post(
        "/mcp",
        content=(body + '"arguments": ' + arguments + "}}}").encode(),
        headers={**MCP_ACCEPT, **api.headers(), "Content-Type": "application/json"},
    )
    assert response.status_code < 500, response.text
    assert response.json()["error"] == {
        "code": -32700,
        "message": "Parse error: nested too deeply.",
    }


def test_an_mcp_answer_carries_the_security_headers_once(api: Api) -> None:
    response = post(api, TOOLS_LIST, {**api.headers(), "mcp-protocol-version": "2025-06-18"})
    assert response.status_code == 200
    names = [tool["name"] for tool in response.json()["result"]["tools"]]
    assert names[0] == "vault_list"
    assert_security_headers_once(response)


SECRET = "sk_live_ENVELOPE_4242"
MALFORMED: list[tuple[Any, int, str]] = [
    (
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": SECRET},
        -32600,
        'Invalid request: "params" must be an object.',
    ),
    (
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": [SECRET]},
        -32600,
        'Invalid request: "params" must be an object.',
    ),
    (
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "vault_store", "arguments": SECRET},
        },
        -32602,
        'tools/call "arguments" must be an object.',
    ),
    (
        {
            "jsonrpc": "2.0",
            "id": 4,
            "method": "tools/call",
            "params": {"arguments": {"name": "x", "type": "LOGIN", "data": {"password": SECRET}}},
        },
        -32602,
        'tools/call needs "name": the name of a tool (a string).',
    ),
    (
        {
            "jsonrpc": "2.0",
            "id": 5,
            "method": "tools/call",
            "params": {"name": {"n": SECRET}, "arguments": {}},
        },
        -32602,
        'tools/call needs "name": the name of a tool (a string).',
    ),
    (
        {"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {"name": SECRET}},
        -32602,
        "Unknown tool. The tools are: vault_list, vault_get, vault_totp, "
        "vault_totp_use_backup, vault_store, vault_storeApiKey, vault_storeCard, "
        "vault_storeShippingAddress, vault_delete, vault_fetch, vault_request, identity_whoami.",
    ),
    (
        {"jsonrpc": "1.0", "id": 7, "method": SECRET, "params": {"data": SECRET}},
        -32600,
        'Invalid request: "jsonrpc" must be "2.0".',
    ),
    (
        {"jsonrpc": "2.0", "id": {"x": SECRET}, "method": "tools/call"},
        -32600,
        'Invalid request: "id" must be a string or an integer.',
    ),
    ([SECRET], -32600, "Invalid request: a JSON-RPC message must be a JSON object."),
    (SECRET, -32600, "Invalid request: a JSON-RPC message must be a JSON object."),
]
"""Envelopes a buggy client might send with a secret in them, and the answer."""


def test_malformed_envelopes_are_answered_without_repeating_what_was_sent(api: Api) -> None:
    headers = {**api.headers(), "mcp-protocol-version": "2025-06-18"}
    for body, code, message in MALFORMED:
        response = post(api, body, headers)
        assert SECRET not in response.text, body
        assert response.json()["error"] == {"code": code, "message": message}, body
    raw = api.client.post(
        "/mcp",
        content=b'{"jsonrpc": "2.0", "x": "' + SECRET.encode(),
        headers={**MCP_ACCEPT, **headers, "Content-Type": "application/json"},
    )
    assert raw.status_code == 400
    assert SECRET not in raw.text
    assert raw.json()["error"]["code"] == -32700


PACKAGE_ERRORS: list[tuple[Any, int, str]] = [
    ({"jsonrpc": "2.0", "id": 21, "method": SECRET + "/x"}, -32601, "Method not found"),
    (
        {"jsonrpc": "2.0", "id": 22, "method": SECRET, "params": {"data": SECRET}},
        -32601,
        "Method not found",
    ),
    (
        {"jsonrpc": "2.0", "id": 23, "method": "tools/list", "params": {"cursor": {"c": SECRET}}},
        -32602,
        "Invalid request parameters",
    ),
    (
        {"jsonrpc": "2.0", "id": 24, "method": "resources/read", "params": {"uri": "x:" + SECRET}},
        -32602,
        "Invalid request parameters",
    ),
    (
        {"jsonrpc": "2.0", "id": 25, "method": "prompts/get", "params": {"name": SECRET}},
        -32603,
        "Internal server error",
    ),
]
"""Well-formed envelopes the ``mcp`` package itself refuses, and the answer: it
would repeat the method (in ``data``), the resource URI and the prompt name
(that one in the text of an exception it would also log, with code 0)."""


def test_errors_the_package_writes_repeat_nothing_that_was_sent(api: Api) -> None:
    headers = {**api.headers(), "mcp-protocol-version": "2025-06-18"}
    for body, code, message in PACKAGE_ERRORS:
        response = post(api, body, headers)
        assert SECRET not in response.text, body
        assert response.json() == {
            "jsonrpc": "2.0",
            "id": body["id"],
            "error": {"code": code, "message": message},
        }, body


def modern(method: str, version: str, request_id: int = 1) -> dict[str, Any]:
    """A request of the per-request (2026-07-28) era, its envelope in ``_meta``."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": version,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {"_meta": meta}}


def test_the_per_request_era_repeats_neither_version_nor_method(api: Api) -> None:
    version = "2026-" + SECRET
    response = post(
        api,
        modern("tools/list", version),
        {**api.headers(), "mcp-protocol-version": version, "mcp-method": "tools/list"},
    )
    assert response.status_code == 400
    assert SECRET not in response.text
    assert response.json()["error"] == {
        "code": -32022,
        "message": "Unsupported protocol version",
        # the versions served (a client retries with one); the one sent, not repeated
        "data": {"supported": ["2026-07-28"], "requested": ""},
    }
    method = SECRET + "/x"
    response = post(
        api,
        modern(method, "2026-07-28"),
        {**api.headers(), "mcp-protocol-version": "2026-07-28", "mcp-method": method},
    )
    assert response.status_code == 404
    assert SECRET not in response.text
    assert response.json()["error"] == {"code": -32601, "message": "Method not found"}
    assert_json_error_answer(response)


def assert_json_error_answer(response: Response) -> None:
    """JSON with its content type, the security headers once, a request id."""
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"]
    assert_security_headers_once(response)
    answer = response.json()
    assert answer["jsonrpc"] == "2.0"
    assert "id" in answer
    assert isinstance(answer["error"]["code"], int)
    assert isinstance(answer["error"]["message"], str)


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        (
            {"Content-Type": "text/plain"},
            415,
            "Unsupported Media Type: Content-Type must be application/json",
        ),
        ({}, 415, "Unsupported Media Type: Content-Type must be application/json"),
        (
            {"Content-Type": "application/json", "Accept": "text/html"},
            406,
            "Not Acceptable: Client must accept application/json",
        ),
        (  # the per-request era's 406 comes from the package with an empty body
            {
                "Content-Type": "application/json",
                "Accept": "text/html",
                "mcp-protocol-version": "2026-07-28",
            },
            406,
            "Not Acceptable: Client must accept application/json",
        ),
    ],
)
def test_every_error_status_is_a_json_rpc_error_in_json(
    api: Api, headers: dict[str, str], status: int, message: str
) -> None:
    body = json.dumps({**TOOLS_LIST, "params": {"cursor": SECRET}}).encode()
    response = api.client.post(
        "/mcp", content=body, headers={**MCP_ACCEPT, **api.headers(), **headers}
    )
    assert response.status_code == status
    assert_json_error_answer(response)
    assert response.json()["error"] == {"code": -32600, "message": message}
    assert SECRET not in response.text
