"""``loomal mcp`` / ``python -m loomal.mcp``: an MCP server on stdio that talks
to a running vault with ``LOOMAL_API_KEY`` and ``LOOMAL_API_URL``.

As the official server does: with an identity key it reads ``/v0/whoami`` once
at start and lists only the tools the key's scopes can call (a key that does
not authenticate, or a server that does not answer, stops it there with one
line); with a platform key (``lopk-``) it serves the ``identities_*`` tools.

Two additions to the ``mcp`` package's stdio loop, one on each side of it:

- in: a line that is not a valid JSON-RPC message gets a JSON-RPC error naming
  the rule it breaks (the package drops it, leaving the client waiting, and its
  validation error quotes the line);
- out: every JSON-RPC error the package writes passes through
  :func:`loomal.mcp.protocol.public_error` (the package's own texts and ``data``
  can repeat what was sent: an unknown method's name, a protocol version).
"""

from __future__ import annotations

import os
from typing import Any

import anyio
import pydantic
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp_types import INVALID_REQUEST, PARSE_ERROR, ErrorData, JSONRPCError

from loomal.client import AsyncLoomal, AsyncLoomalPlatform
from loomal.client.async_ import AsyncClient
from loomal.core.platform_models import PLATFORM_KEY_PREFIX
from loomal.core.principals import Scope
from loomal.mcp.backends import PlatformBackend, SdkBackend, SdkPlatformBackend, VaultBackend
from loomal.mcp.names import ToolNameMode
from loomal.mcp.platform_tools import build_platform_mcp_server
from loomal.mcp.protocol import envelope_error, public_error
from loomal.mcp.tools import build_mcp_server

__all__ = ["serve_stdio"]

Inbound = SessionMessage | Exception


async def serve_stdio(
    api_key: str | None = None,
    base_url: str | None = None,
    tool_names: ToolNameMode = "underscore",
) -> None:
    """Serve until stdin closes. A missing API key fails here, before any tool call."""
    client: AsyncClient
    mcp_server: MCPServer[Any]
    if (api_key or os.environ.get("LOOMAL_API_KEY") or "").startswith(PLATFORM_KEY_PREFIX):
        client = platform = AsyncLoomalPlatform(
            api_key=api_key or os.environ.get("LOOMAL_API_KEY"), base_url=base_url
        )
        platform_backend = SdkPlatformBackend(platform)

        async def platform_backend_for(_: Context) -> PlatformBackend:
            return platform_backend

        mcp_server = build_platform_mcp_server(platform_backend_for, tool_names)
    else:
        client = vault = AsyncLoomal(api_key=api_key, base_url=base_url)
        try:
            me = await vault.identity.whoami()
        except BaseException:
            await vault.aclose()
            raise
        scopes = frozenset(Scope(s) for s in me.scopes if s in _SCOPE_NAMES)
        backend = SdkBackend(vault)

        async def backend_for(_: Context) -> VaultBackend:
            return backend

        async def scopes_for(_: Any) -> frozenset[Scope]:
            return scopes

        mcp_server = build_mcp_server(backend_for, tool_names, scopes_for)
    await _serve(mcp_server, client)


_SCOPE_NAMES = frozenset(s.value for s in Scope)


async def _serve(mcp_server: MCPServer[Any], client: AsyncClient) -> None:
    # What MCPServer.run_stdio_async does, with the malformed-line answer on the
    # way in and the error check on the way out.
    server = mcp_server._lowlevel_server
    try:
        async with stdio_server() as (read_stream, write_stream):
            checked, checked_reader = anyio.create_memory_object_stream[Inbound](0)
            answers, answers_reader = anyio.create_memory_object_stream[SessionMessage](0)
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(_answer_malformed, read_stream, checked, write_stream)
                tasks.start_soon(_public_errors, answers_reader, write_stream)
                async with answers:
                    await server.run(
                        checked_reader, answers, server.create_initialization_options()
                    )
    finally:
        await client.aclose()


async def _answer_malformed(
    inbound: Any,
    checked: MemoryObjectSendStream[Inbound],
    outbound: Any,
) -> None:
    async with checked:
        async for item in inbound:
            if isinstance(item, Exception):
                request_id, error = _envelope_problem(item)
                answer = JSONRPCError(jsonrpc="2.0", id=request_id, error=error)
                await outbound.send(SessionMessage(answer))
            else:
                await checked.send(item)


async def _public_errors(answers: MemoryObjectReceiveStream[SessionMessage], outbound: Any) -> None:
    """Forward what the server writes; a JSON-RPC error goes as :func:`public_error` has it.

    Closes ``outbound`` when the server is done (stdout's writer then ends), as
    the server does with the stream it is given.
    """
    async with answers, outbound:
        async for item in answers:
            if isinstance(item.message, JSONRPCError):
                error = public_error(item.message.error)
                answer = JSONRPCError(jsonrpc="2.0", id=item.message.id, error=error)
                item = SessionMessage(answer, metadata=item.metadata)
            await outbound.send(item)


def _envelope_problem(exc: Exception) -> tuple[str | int | None, ErrorData]:
    """The id (when one can be read) and the error for a line the package refused.

    The exception's own text quotes the line, so only its structure is used:
    the message is re-checked by :func:`envelope_error`, whose errors name rules.
    """
    fallback = ErrorData(
        code=INVALID_REQUEST, message="Invalid request: not a JSON-RPC 2.0 message."
    )
    if not isinstance(exc, pydantic.ValidationError):
        return None, fallback
    errors = exc.errors(include_url=False)
    if any(e["type"] == "json_invalid" for e in errors):
        return None, ErrorData(code=PARSE_ERROR, message="Parse error: the line is not valid JSON.")
    inputs = [e.get("input") for e in errors]
    message = next((i for i in inputs if isinstance(i, dict)), inputs[0] if inputs else None)
    request_id = message.get("id") if isinstance(message, dict) else None
    if isinstance(request_id, bool) or not isinstance(request_id, str | int):
        request_id = None
    return request_id, envelope_error(message) or fallback
