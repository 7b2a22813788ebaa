"""What the vault's MCP server says at the protocol level, the same on stdio and
HTTP: which spelling of the tool names it lists (and the other one it still
answers to), what it advertises at ``initialize``, and the text of every
JSON-RPC error it sends.

Why its own layer: the ``mcp`` package quotes the caller's input when an
envelope fails validation (pydantic's ``input_value=...``, which for a
``tools/call`` includes the secret ``data``), answers an unknown method with
its name in ``data``, an unknown resource with its URI, an unsupported protocol
version with the version sent, and advertises prompts and resources the vault
does not have. Every message here names a field and a rule, never a value:

- :func:`envelope_error`: what the transports answer, before the package sees
  a message, when it is not a JSON-RPC message;
- :func:`public_error`: what any error the package writes is reduced to on its
  way out (the transports pass every outgoing JSON-RPC error through it), so
  an error the package may add in a later version cannot repeat a value either.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import Any, Final

import pydantic
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import (
    CONNECTION_CLOSED,
    HEADER_MISMATCH,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    PARSE_ERROR,
    REQUEST_TIMEOUT,
    UNSUPPORTED_PROTOCOL_VERSION,
    ErrorData,
    ListToolsResult,
)
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from loomal.core.principals import Scope

__all__ = [
    "Listing",
    "ScopesFor",
    "VaultMiddleware",
    "envelope_error",
    "http_status_error",
    "public_error",
]

log = logging.getLogger("loomal.mcp")

_UNADVERTISED: Final = ("prompts", "resources")
"""Capabilities the package derives from handlers it always registers; the vault has neither."""

_PACKAGE_TEXTS: Final = frozenset(
    {
        "Method not found",
        "Invalid request parameters",
        "Internal server error",
        "Internal error",
        "Handler returned an invalid result",
        "Parse error",
        "Connection closed",
        "Request cancelled",
        "Unsupported protocol version",
        "Body must be a single JSON-RPC request or notification object",
        "Not Acceptable: Client must accept application/json",
        "Not Acceptable: Client must accept both application/json and text/event-stream",
        "Unsupported Media Type: Content-Type must be application/json",
        "Method Not Allowed",
        "Error handling POST request",
        "Session terminated before the request completed",
        "the protocol-version envelope value must be a string",
        "params._meta must be an object carrying the required "
        "'io.modelcontextprotocol/protocolVersion' and "
        "'io.modelcontextprotocol/clientCapabilities' envelope keys",
        "MCP-Protocol-Version header does not match the request envelope's protocol version",
        "Mcp-Method header does not match the request body's method",
        "this connection serves the handshake protocol era; "
        "requests carrying the 2026-07-28 envelope are not accepted on it",
        "connection is serving the 2026-07-28 protocol; the initialize handshake is not accepted",
    }
)
"""Texts the ``mcp`` package (2.3) writes whole, naming no input: kept as they are.
Any other text it writes (an f-string, an exception's ``str``) is replaced."""

_BY_CODE: Final[Mapping[int, str]] = {
    PARSE_ERROR: "Parse error",
    INVALID_REQUEST: "Invalid request: not a JSON-RPC request this server accepts.",
    METHOD_NOT_FOUND: "Method not found",
    INVALID_PARAMS: "Invalid request parameters",
    INTERNAL_ERROR: "Internal server error",
    HEADER_MISMATCH: "A routing header (MCP-Protocol-Version, Mcp-Method, Mcp-Name or "
    "Mcp-Param-*) does not match the request body.",
    MISSING_REQUIRED_CLIENT_CAPABILITY: "The client did not declare a capability this "
    "request needs.",
    UNSUPPORTED_PROTOCOL_VERSION: "Unsupported protocol version",
    REQUEST_TIMEOUT: "Request timed out",
    CONNECTION_CLOSED: "Connection closed",
}
"""The text for an error whose own text is not known to be free of input."""

_SERVED_VERSIONS: Final = (*HANDSHAKE_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS)

_OWN_TEXTS: set[str] = set()
"""Texts this module wrote (rules and the tool listing, never a value sent)."""


def _own(text: str) -> str:
    _OWN_TEXTS.add(text)
    return text


_NEEDS_NAME: Final = _own('tools/call needs "name": the name of a tool (a string).')
_ARGUMENTS_OBJECT: Final = _own('tools/call "arguments" must be an object.')


def public_error(error: ErrorData) -> ErrorData:
    """``error`` as it may leave the server: a text that names no input, no ``data``.

    Kept: texts this module wrote and the package's fixed texts; any other gets
    the text of its code. ``data`` is dropped (the package puts the method, the
    resource URI, the version sent there), except for an unsupported protocol
    version: the versions served stay (a client picks one and retries) and
    ``requested`` is sent empty (the package's client requires the field).
    """
    text = error.message
    if text not in _OWN_TEXTS and text not in _PACKAGE_TEXTS:
        text = _BY_CODE.get(error.code, "Request failed")
    if error.code == UNSUPPORTED_PROTOCOL_VERSION:
        sent = error.data.get("supported") if isinstance(error.data, dict) else None
        supported = [v for v in _SERVED_VERSIONS if isinstance(sent, list) and v in sent]
        return ErrorData(
            code=error.code, message=text, data={"supported": supported, "requested": ""}
        )
    return ErrorData(code=error.code, message=text)


_HTTP_TEXTS: Final[Mapping[int, str]] = {
    406: "Not Acceptable: Client must accept application/json",
    415: "Unsupported Media Type: Content-Type must be application/json",
}


def http_status_error(status: int) -> ErrorData:
    """The JSON-RPC error for an HTTP error status the package answered without one."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return ErrorData(
        code=INTERNAL_ERROR if status >= 500 else INVALID_REQUEST,
        message=_HTTP_TEXTS.get(status, f"{phrase}."),
    )


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
    return ErrorData(code=INVALID_REQUEST, message=_own(f"Invalid request: {rule}."))


ScopesFor = Callable[[ServerRequestContext[Any, Any]], Awaitable[frozenset[Scope] | None]]
"""The scopes of the key a request comes with (None: not known, show everything)."""


@dataclass(frozen=True)
class Listing:
    """What a key is shown, by its scopes: the tools to leave out of ``tools/list``
    and the server's instructions (which name only the tools listed)."""

    scopes_for: ScopesFor
    hidden: Callable[[frozenset[Scope]], frozenset[str]]
    instructions: Callable[[frozenset[Scope]], str]


class VaultMiddleware:
    """``mcp`` server middleware (runs before the package validates params).

    - ``tools/call``: a ``name`` in either spelling reaches its tool; a missing
      or non-string name, non-object arguments and unknown tools get errors
      that name the rule, not what was sent.
    - ``initialize`` / ``server/discover``: prompts and resources are not
      advertised (``prompts/list`` and ``resources/list`` still answer empty);
      with a :class:`Listing`, the instructions are the key's.
    - ``tools/list``: with a :class:`Listing`, only the tools the key's scopes
      can call (a call to another still reaches it, and gets the scope error).
    - any other exception a handler raises (the package's ``Unknown prompt:
      <name>``, for one) becomes an internal error and is logged by type: the
      package would send its text and log its traceback, both quoting the input.
    """

    def __init__(
        self, listed: Sequence[str], aliases: Mapping[str, str], listing: Listing | None = None
    ) -> None:
        self._unknown = _own(f"Unknown tool. The tools are: {', '.join(listed)}.")
        self._tools = {**{name: name for name in listed}, **aliases}
        self._listing = listing

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if ctx.method == "tools/call" and ctx.request_id is not None:
            ctx = replace(ctx, params=self._resolved(ctx.params))
        try:
            result = await call_next(ctx)
        except (MCPError, pydantic.ValidationError):
            raise  # answered by code; public_error has the last word on the text
        except Exception as exc:
            log.error("MCP handler failed with %s", type(exc).__name__)
            raise MCPError(INTERNAL_ERROR, "Internal server error") from None
        if ctx.method in ("initialize", "server/discover") and isinstance(result, dict):
            capabilities = result.get("capabilities")
            if isinstance(capabilities, dict):
                result = {
                    **result,
                    "capabilities": {
                        k: v for k, v in capabilities.items() if k not in _UNADVERTISED
                    },
                }
            scopes = await self._scopes(ctx)
            if scopes is not None and self._listing and result.get("instructions"):
                result = {**result, "instructions": self._listing.instructions(scopes)}
        elif ctx.method == "tools/list" and (scopes := await self._scopes(ctx)) is not None:
            result = self._without(result, self._listing.hidden(scopes) if self._listing else ())
        return result

    async def _scopes(self, ctx: ServerRequestContext[Any, Any]) -> frozenset[Scope] | None:
        return None if self._listing is None else await self._listing.scopes_for(ctx)

    @staticmethod
    def _without(result: HandlerResult, hidden: frozenset[str] | tuple[()]) -> HandlerResult:
        """``tools/list``'s result without the tools named in ``hidden``."""
        if not hidden:
            return result
        if isinstance(result, ListToolsResult):
            return result.model_copy(
                update={"tools": [t for t in result.tools if t.name not in hidden]}
            )
        if isinstance(result, dict) and isinstance(result.get("tools"), list):
            tools = [
                t for t in result["tools"] if not (isinstance(t, dict) and t.get("name") in hidden)
            ]
            return {**result, "tools": tools}
        return result

    def _resolved(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        params = dict(params or {})
        name = params.get("name")
        if not isinstance(name, str) or not name:
            raise MCPError(INVALID_PARAMS, _NEEDS_NAME)
        if "arguments" in params and not isinstance(params["arguments"], dict | None):
            raise MCPError(INVALID_PARAMS, _ARGUMENTS_OBJECT)
        tool = self._tools.get(name)
        if tool is None:
            raise MCPError(INVALID_PARAMS, self._unknown)
        params["name"] = tool
        return params
