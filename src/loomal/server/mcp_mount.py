"""``/mcp`` on the vault server: streamable HTTP, authenticated by the same
``Authorization: Bearer loid-...`` header as the REST API.

Stateless (no MCP session kept in memory), so any request may reach any worker
or server. Every HTTP request is authenticated once, here, before MCP sees it;
its tools act as the principal found, so a revoked key stops working within
the same bound as over REST, and each request counts once against the key's
rate limit. ``tools/list`` shows the tools that key's scopes can call.

What a client meets here before the ``mcp`` package runs, and why:

- a missing or bad key: 401 with ``WWW-Authenticate: Bearer
  error="invalid_token", error_description="..."`` (RFC 6750), so an MCP client
  reports the cause instead of starting an OAuth flow the vault has no use for;
- a method other than POST: 405 ``Allow: POST`` (a stateless server has no SSE
  stream to offer on GET; the package would open one that never sends);
- a body over 64 KiB: 413 ``payload_too_large``, as on every route;
- a ``Content-Type`` other than ``application/json``: 415 with a JSON-RPC error
  (the package answers a plain-text 400);
- a body that is not a JSON-RPC message: a JSON-RPC error naming the rule
  broken, never quoting the body (the package's would quote it, secrets too).

And on the way out, what the package answers passes through
:func:`loomal.mcp.protocol.public_error`: a JSON-RPC error in any answer is
reduced to a text that names no input, and an error status without a JSON-RPC
body (the package's plain-text or empty 4xx) gets one. So every non-2xx answer
of ``/mcp`` is JSON: the API's shape for 401, 405 and 413 (answered before MCP
runs, as on every route), a JSON-RPC error object for the rest.

Errors leave through ``server.responses``; the enclosing app adds the security
headers and ``X-Request-Id`` to every response, so the security headers are
taken off ours here rather than sent twice.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import INTERNAL_ERROR, PARSE_ERROR, ErrorData
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loomal.core.principals import Principal
from loomal.core.principals import Scope as ApiScope
from loomal.errors import (
    AuthenticationError,
    LoomalError,
    MethodNotAllowedError,
    PayloadTooLargeError,
)
from loomal.mcp.backends import ServiceBackend, VaultBackend
from loomal.mcp.names import ToolNameMode
from loomal.mcp.protocol import envelope_error, http_status_error, public_error
from loomal.mcp.tools import build_mcp_server
from loomal.runtime import RunningVault
from loomal.server.calls import PRINCIPAL_SCOPE_KEY, authenticate
from loomal.server.endpoints import API_MAX_BODY_BYTES
from loomal.server.request_body import (
    ClientDisconnected,
    read_body,
    replay_body,
    request_header,
)
from loomal.server.responses import ErrorWriter, error_body, send_json, with_security_headers

__all__ = ["McpMount"]
_encode = msgspec.json.Encoder().encode


class McpMount:
    """The ASGI app mounted at ``/mcp`` and the lifespan it needs.

    ``tool_names`` None: the vault's ``mcp_tool_names`` setting, read at start.
    """

    def __init__(
        self,
        vault_of: Callable[[], RunningVault],
        errors: ErrorWriter,
        body_timeout: float,
        tool_names: ToolNameMode | None = None,
    ) -> None:
        self._vault_of = vault_of
        self._errors = errors
        self._body_timeout = body_timeout
        self._tool_names = tool_names
        self._server: MCPServer[Any] | None = None
        self._app: ASGIApp | None = None

    def _build(self) -> MCPServer[Any]:
        vault_of = self._vault_of

        async def backend_for(ctx: Context) -> VaultBackend:
            scope = getattr(ctx.request_context.request, "scope", None) or {}
            principal = scope.get(PRINCIPAL_SCOPE_KEY)
            if not isinstance(principal, Principal):
                raise AuthenticationError()
            vault = vault_of()
            host = request_header(scope, b"host") if scope.get("headers") else None
            origin = f"{scope.get('scheme', 'http')}://{host}" if host else ""
            return ServiceBackend(
                vault.service,
                vault.identities,
                vault.broker,
                principal,
                origin,
                requests=vault.requests,
            )

        async def scopes_for(ctx: ServerRequestContext[Any, Any]) -> frozenset[ApiScope] | None:
            asgi_scope = getattr(ctx.request, "scope", None) or {}
            principal = asgi_scope.get(PRINCIPAL_SCOPE_KEY)
            return principal.scopes if isinstance(principal, Principal) else None

        mode = self._tool_names or vault_of().settings.mcp_tool_names
        server = build_mcp_server(backend_for, mode, scopes_for)
        self._app = server.streamable_http_app(
            streamable_http_path="/",
            stateless_http=True,
            json_response=True,
            max_request_body_size=API_MAX_BODY_BYTES,
            # Every request carries a bearer key checked against the store, so a
            # DNS-rebound page gains nothing; the Host check would only refuse
            # servers reached by a name.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        return server

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Build the server (the vault is open by now) and run its session manager."""
        self._server = self._build()
        async with self._server.session_manager.run():
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            raise RuntimeError("McpMount.running() was not entered")
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        own = send  # what this module writes carries the security headers already
        try:
            principal = await authenticate(self._vault_of(), scope)
        except AuthenticationError as error:
            await send_json(own, 401, _encode(error_body(error)), _bearer_challenge(error))
            return
        except LoomalError as error:
            await self._errors.send(own, error)
            return
        if scope["method"] != "POST":
            refused = MethodNotAllowedError("/mcp answers POST only (stateless: no SSE stream).")
            await send_json(own, 405, _encode(error_body(refused)), {"allow": "POST"})
            return
        if not _json_content_type(scope):
            await send_json(own, 415, _encode(_jsonrpc_error(None, http_status_error(415))))
            return
        announced = request_header(scope, b"content-length")
        if announced is not None and announced.isdigit() and int(announced) > API_MAX_BODY_BYTES:
            await self._errors.send(own, PayloadTooLargeError())
            return
        try:
            body = await read_body(receive, API_MAX_BODY_BYTES, self._body_timeout)
        except ClientDisconnected:
            return  # nobody to answer
        problem = _check_body(body)
        if problem is not None:
            await send_json(own, 400, _encode(problem))
            return
        path = scope["path"].removeprefix("/mcp") or "/"  # the package serves it at "/"
        scope = {**scope, PRINCIPAL_SCOPE_KEY: principal, "path": path}
        answers = _PublicAnswers(with_security_headers(send), own)
        await self._app(scope, replay_body(body, receive), answers)


def _bearer_challenge(error: LoomalError) -> dict[str, str]:
    """RFC 6750 section 3: error_description allows printable ASCII but ``"`` and ``\\``."""
    description = "".join(c if " " <= c <= "~" and c not in '"\\' else "'" for c in error.message)
    return {"www-authenticate": f'Bearer error="invalid_token", error_description="{description}"'}


def _json_content_type(scope: Scope) -> bool:
    """As the package checks it (``TransportSecurityMiddleware``): ``application/json...``."""
    content_type = request_header(scope, b"content-type")
    return content_type is not None and content_type.lower().startswith("application/json")


def _jsonrpc_error(request_id: Any, error: ErrorData) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.model_dump(exclude_none=True)}


class _PublicAnswers:
    """The ``send`` the package answers through: what it sends goes on unchanged,
    but for a JSON-RPC error (reduced by :func:`public_error`) and an error status
    without a JSON-RPC error body (given one by :func:`http_status_error`).

    Held back and read: JSON answers and error statuses (whole single bodies, as
    the package sends them in JSON-response mode). An SSE stream passes as it comes.
    """

    def __init__(self, send: Send, own: Send) -> None:
        self._send = send
        self._own = own
        self._start: Message | None = None
        self._chunks: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            status = message["status"]
            content_type = next(
                (v for k, v in message.get("headers", ()) if k.lower() == b"content-type"), b""
            )
            if status >= 300 or content_type.startswith(b"application/json"):
                self._start = message  # answered when the body is complete
                return
        elif message["type"] == "http.response.body" and self._start is not None:
            self._chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            start, self._start = self._start, None
            body = b"".join(self._chunks)
            replaced = _public_answer(start["status"], body)
            if replaced is None:
                await self._send(start)
                await self._send({"type": "http.response.body", "body": body})
            else:
                await send_json(self._own, start["status"], _encode(replaced))
            return
        await self._send(message)


def _public_answer(status: int, body: bytes) -> dict[str, Any] | None:
    """The body to send in place of the package's ``body``, or None to send it as it is."""
    failed = status >= 300
    if not failed and b'"error"' not in body:
        return None  # a result (or an empty 202): nothing to check
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        answer = None
    error = answer.get("error") if isinstance(answer, dict) else None
    if not isinstance(error, dict):  # a result, or an error status without JSON-RPC
        return _jsonrpc_error(None, http_status_error(status)) if failed else None
    code, text = error.get("code"), error.get("message")
    sent = ErrorData(
        code=code if type(code) is int else INTERNAL_ERROR,
        message=text if isinstance(text, str) else "",
        data=error.get("data"),
    )
    request_id = answer.get("id") if isinstance(answer, dict) else None
    if isinstance(request_id, bool) or not isinstance(request_id, str | int):
        request_id = None
    return _jsonrpc_error(request_id, public_error(sent))


def _check_body(body: bytes) -> dict[str, Any] | None:
    """The JSON-RPC error answer for a body that is not one JSON-RPC message, or None."""
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        message, error = None, ErrorData(code=PARSE_ERROR, message="Parse error: not valid JSON.")
    except RecursionError:  # deeper than the parser's stack; the REST API says 400 too
        message = None
        error = ErrorData(code=PARSE_ERROR, message="Parse error: nested too deeply.")
    else:
        if (problem := envelope_error(message)) is None:
            return None
        error = problem
    request_id = message.get("id") if isinstance(message, dict) else None
    if isinstance(request_id, bool) or not isinstance(request_id, str | int):
        request_id = None
    return {"jsonrpc": "2.0", "id": request_id, "error": error.model_dump(exclude_none=True)}
