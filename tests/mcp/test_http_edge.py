"""``/mcp`` at the HTTP edge, in-process (the whole app: routing, security
headers, the mount): what a client gets before MCP runs, in the API's shapes."""

from __future__ import annotations

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
    ("authorization", "message"),
    [
        (None, "Missing API key: send Authorization: Bearer loid-..."),
        ("Bearer loid-" + "x" * 43, "Invalid API key."),
        ("Basic dXNlcjpwYXNz", "Invalid API key."),
    ],
)
def test_a_missing_or_bad_key_gets_401_with_a_bearer_challenge(
    api: Api, authorization: str | None, message: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = post(api, TOOLS_LIST, headers)
    assert response.status_code == 401
    assert response.json() == {"error": "unauthenticated", "message": message, "status": 401}
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
        "vault_totp_use_backup, vault_store, vault_delete, vault_fetch, identity_whoami.",
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
