"""What the vault's MCP server says at the protocol level, the same on stdio and
HTTP: which spelling of the tool names it lists (and the other one it still
answers to), what it advertises at ``initialize``, and the errors for
malformed JSON-RPC envelopes.

Why its own layer: the ``mcp`` package quotes the caller's input when an
envelope fails validation (pydantic's ``input_value=...``, which for a
``tools/call`` includes the secret ``data``), answers an unknown tool by
repeating its name, and advertises prompts and resources the vault does not
have. Every message here names a field and a rule, never a value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, INVALID_REQUEST, ErrorData

__all__ = ["VaultMiddleware", "envelope_error"]

_UNADVERTISED: Final = ("prompts", "resources")
"""Capabilities the package derives from handlers it always registers; the vault has neither."""


def envelope_error(message: Any) -> ErrorData | None:
    """Why ``message`` (one decoded JSON value) is not a JSON-RPC 2.0 message, or None.

    Checked before the ``mcp`` package sees the message, so its validation
    (whose text quotes the input) never fails on one of ours.
    """
    if not isinstance(message, dict):
        return _invalid("a JSON-RPC message must be a JSON object")
    if message.get("jsonrpc") != "2.0":
        return _invalid('"jsonrpc" must be "2.0"')
    if "id" in message and (
        isinstance(message["id"], bool) or not isinstance(message["id"], str | int)
    ):
        return _invalid('"id" must be a string or an integer')
    if "method" in message:
        if not isinstance(message["method"], str):
            return _invalid('"method" must be a string')
        if "params" in message and not isinstance(message["params"], dict):
            return _invalid('"params" must be an object')
    elif "result" in message:
        if not isinstance(message["result"], dict):
            return _invalid('"result" must be an object')
    elif "error" in message:
        error = message["error"]
        if not (isinstance(error, dict) and isinstance(error.get("code"), int)):
            return _invalid('"error" must be an object with an integer "code"')
        if not isinstance(error.get("message"), str):
            return _invalid('"error.message" must be a string')
    else:
        return _invalid('a JSON-RPC message needs "method", "result" or "error"')
    return None


def _invalid(rule: str) -> ErrorData:
    return ErrorData(code=INVALID_REQUEST, message=f"Invalid request: {rule}.")


class VaultMiddleware:
    """``mcp`` server middleware (runs before the package validates params).

    - ``tools/call``: a ``name`` in either spelling reaches its tool; a missing
      or non-string name, non-object arguments and unknown tools get errors
      that name the rule, not what was sent.
    - ``initialize`` / ``server/discover``: prompts and resources are not
      advertised (``prompts/list`` and ``resources/list`` still answer empty).
    """

    def __init__(self, listed: Sequence[str], aliases: Mapping[str, str]) -> None:
        self._listed = ", ".join(listed)
        self._tools = {**{name: name for name in listed}, **aliases}

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if ctx.method == "tools/call" and ctx.request_id is not None:
            ctx = replace(ctx, params=self._resolved(ctx.params))
        result = await call_next(ctx)
        if ctx.method in ("initialize", "server/discover") and isinstance(result, dict):
            capabilities = result.get("capabilities")
            if isinstance(capabilities, dict):
                result = {
                    **result,
                    "capabilities": {
                        k: v for k, v in capabilities.items() if k not in _UNADVERTISED
                    },
                }
        return result

    def _resolved(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        params = dict(params or {})
        name = params.get("name")
        if not isinstance(name, str) or not name:
            raise MCPError(
                INVALID_PARAMS, 'tools/call needs "name": the name of a tool (a string).'
            )
        if "arguments" in params and not isinstance(params["arguments"], dict | None):
            raise MCPError(INVALID_PARAMS, 'tools/call "arguments" must be an object.')
        tool = self._tools.get(name)
        if tool is None:
            raise MCPError(INVALID_PARAMS, f"Unknown tool. The tools are: {self._listed}.")
        params["name"] = tool
        return params
