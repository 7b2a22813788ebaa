"""``/mcp`` on the vault server: streamable HTTP, authenticated by the same
``Authorization: Bearer loid-...`` header as the REST API.

Stateless (no MCP session kept in memory), so any request may reach any worker
or server. Every HTTP request is authenticated once, here, before MCP sees it
(a bad key gets the API's 401); its tools act as the principal found, so a
revoked key stops working within the same bound as over REST, and each request
counts once against the key's rate limit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from mcp.server.mcpserver import Context
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from loomal.core.identity import Principal
from loomal.errors import AuthenticationError, LoomalError
from loomal.mcp.backends import ServiceBackend, VaultBackend
from loomal.mcp.tools import build_mcp_server
from loomal.runtime import Vault
from loomal.server.responses import send_error

__all__ = ["McpMount"]

MAX_BODY_BYTES = 64 * 1024
_PRINCIPAL = "loomal.principal"
"""Scope key: the principal the mount authenticated, for the tools of that request."""


class McpMount:
    """The ASGI app mounted at ``/mcp`` and the lifespan it needs."""

    def __init__(self, vault_of: Callable[[], Vault]) -> None:
        self._vault_of = vault_of

        async def backend_for(ctx: Context) -> VaultBackend:
            scope = getattr(ctx.request_context.request, "scope", None) or {}
            principal = scope.get(_PRINCIPAL)
            if not isinstance(principal, Principal):
                raise AuthenticationError()
            return ServiceBackend(vault_of(), principal)

        self._server = build_mcp_server(backend_for)
        self._app: ASGIApp = self._server.streamable_http_app(
            streamable_http_path="/",
            stateless_http=True,
            json_response=True,
            max_request_body_size=MAX_BODY_BYTES,
            # Every request carries a bearer key checked against the store, so a
            # DNS-rebound page gains nothing; the Host check would only refuse
            # servers reached by a name.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with self._server.session_manager.run():
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            authorization = headers.get(b"authorization", b"").decode("latin-1")
            client = scope.get("client") or ("", 0)
            try:
                principal = await self._vault_of().identities.authenticate(
                    authorization, client=client[0]
                )
            except LoomalError as error:
                await send_error(send, error)
                return
            scope = {**scope, _PRINCIPAL: principal, "path": scope.get("path") or "/"}
        await self._app(scope, receive, send)
