"""Malformed JSON-RPC envelopes carrying a secret, and well-formed ones the
``mcp`` package refuses (unknown method, bad params, unsupported protocol
version), sent to real processes: the HTTP server (raw httpx POSTs to /mcp)
and ``loomal mcp`` (raw stdio lines). Every one is answered; no answer, and no
log line, repeats what was sent."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.mcp.conftest import INITIALIZED, UNDERSCORE, StdioServer, initialize_request
from tests.mcp.test_http_edge import MALFORMED, PACKAGE_ERRORS, SECRET, modern

pytestmark = pytest.mark.slow  # starts real server processes (not in make test-fast)


def test_over_http(server: ServerProcess) -> None:
    headers = {
        "Authorization": f"Bearer {server.api_key}",
        "Accept": "application/json, text/event-stream",
        "mcp-protocol-version": "2025-06-18",
    }
    for body, code, message in MALFORMED:
        response = httpx.post(server.base_url + "/mcp", json=body, headers=headers)
        assert SECRET not in response.text, body
        assert response.json()["error"] == {"code": code, "message": message}, body
    for body, code, message in PACKAGE_ERRORS:
        response = httpx.post(server.base_url + "/mcp", json=body, headers=headers)
        assert SECRET not in response.text, body
        assert response.json() == {
            "jsonrpc": "2.0",
            "id": body["id"],
            "error": {"code": code, "message": message},
        }, body
    assert SECRET not in server.stop()


def test_over_stdio(server: ServerProcess, tmp_path: Path) -> None:
    stdio = StdioServer(server, server.api_key or "", tmp_path)
    try:
        _, initialized = stdio.answer(initialize_request("2025-06-18"))
        assert initialized["result"]["protocolVersion"] == "2025-06-18"
        stdio.send(INITIALIZED)
        for body, code, message in MALFORMED:
            if isinstance(body, dict) and isinstance(body.get("id"), dict):
                # The package reads an object id as no id: a notification, not answered.
                stdio.send(json.dumps(body))
                continue
            raw, answer = stdio.answer(json.dumps(body))
            assert SECRET not in raw, body
            assert answer["error"] == {"code": code, "message": message}, body
            sent_id = body.get("id") if isinstance(body, dict) else None
            assert answer["id"] == (sent_id if isinstance(sent_id, int) else None)
        for body, code, message in PACKAGE_ERRORS:
            raw, answer = stdio.answer(json.dumps(body))
            assert SECRET not in raw, body
            assert answer == {
                "jsonrpc": "2.0",
                "id": body["id"],
                "error": {"code": code, "message": message},
            }, body
        raw, answer = stdio.answer('{"jsonrpc": "2.0", "id": 9, "params": "' + SECRET)
        assert SECRET not in raw
        assert answer == {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": -32700, "message": "Parse error: the line is not valid JSON."},
        }
        _, listed = stdio.answer('{"jsonrpc": "2.0", "id": 10, "method": "tools/list"}')
        assert listed["id"] == 10
        assert len(listed["result"]["tools"]) == len(UNDERSCORE)
    finally:
        errors = stdio.close()
    assert SECRET not in errors


def test_an_unsupported_protocol_version_is_not_repeated_over_stdio(
    server: ServerProcess, tmp_path: Path
) -> None:
    """A first request in the per-request era at a version not served; then an
    unknown method in that era (both are answered outside the server's handlers)."""
    stdio = StdioServer(server, server.api_key or "", tmp_path)
    try:
        raw, answer = stdio.answer(json.dumps(modern("server/discover", "2026-" + SECRET)))
        assert SECRET not in raw
        assert answer["error"] == {
            "code": -32022,
            "message": "Unsupported protocol version",
            "data": {"supported": ["2026-07-28"], "requested": ""},
        }
        raw, answer = stdio.answer(json.dumps(modern(SECRET + "/x", "2026-07-28", 2)))
        assert SECRET not in raw
        assert answer == {
            "jsonrpc": "2.0",
            "id": 2,
            "error": {"code": -32601, "message": "Method not found"},
        }
    finally:
        errors = stdio.close()
    assert SECRET not in errors


@pytest.mark.parametrize("depth", [300, 100_000])
def test_deep_nesting_over_stdio_is_bounded_like_http(
    server: ServerProcess, tmp_path: Path, depth: int
) -> None:
    """Issue 28 (also known): a line nested deeper than the parser allows is one
    parse error, answered at once (not a stack overflow, not a silent drop), and
    the server goes on serving."""
    stdio = StdioServer(server, server.api_key or "", tmp_path)
    try:
        _, initialized = stdio.answer(initialize_request("2025-06-18"))
        assert "result" in initialized
        stdio.send(INITIALIZED)
        deep = "[" * depth + "]" * depth
        line = '{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "x", '
        raw, answer = stdio.answer(line + '"arguments": {"' + SECRET + '": ' + deep + "}}}")
        assert SECRET not in raw
        assert answer["error"]["code"] in (-32700, -32600), answer
        _, listed = stdio.answer('{"jsonrpc": "2.0", "id": 8, "method": "tools/list"}')
        assert listed["id"] == 8 and listed["result"]["tools"]
    finally:
        errors = stdio.close()
    assert SECRET not in errors
