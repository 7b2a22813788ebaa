"""``public_error``: what any JSON-RPC error is reduced to before it leaves
either transport (the transports themselves are tested in test_envelopes.py
and test_http_edge.py)."""

from __future__ import annotations

import pytest
from mcp.shared.exceptions import MCPError
from mcp_types import ErrorData

from loomal.mcp.protocol import VaultMiddleware, envelope_error, http_status_error, public_error

SECRET = "sk_live_PUBLIC_77"


def test_a_text_that_may_hold_input_is_replaced_and_data_is_dropped() -> None:
    cases = [
        (ErrorData(code=-32601, message="Method not found", data=SECRET), "Method not found"),
        (
            ErrorData(code=-32602, message=f"Unknown resource: {SECRET}", data={"uri": SECRET}),
            "Invalid request parameters",
        ),
        (ErrorData(code=-32700, message=f"Parse error: {SECRET}"), "Parse error"),
        (ErrorData(code=0, message=f"Unknown prompt: {SECRET}"), "Request failed"),
    ]
    for sent, text in cases:
        public = public_error(sent)
        assert public == ErrorData(code=sent.code, message=text)
        assert SECRET not in public.model_dump_json()


def test_an_unsupported_version_keeps_the_versions_served_only() -> None:
    sent = ErrorData(
        code=-32022,
        message="Unsupported protocol version",
        data={"supported": ["2026-07-28", SECRET], "requested": SECRET},
    )
    assert public_error(sent).data == {"supported": ["2026-07-28"], "requested": ""}


def test_loomal_texts_pass_unchanged() -> None:
    malformed = envelope_error({"jsonrpc": "2.0", "id": 1, "method": "x", "params": [SECRET]})
    assert malformed is not None
    assert public_error(malformed) == malformed
    middleware = VaultMiddleware(["vault_list", "vault_get"], {})
    with pytest.raises(MCPError) as raised:
        middleware._resolved({"name": SECRET})
    assert raised.value.error.message == "Unknown tool. The tools are: vault_list, vault_get."
    assert public_error(raised.value.error) == raised.value.error
    assert public_error(http_status_error(415)) == http_status_error(415)
