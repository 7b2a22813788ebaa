"""What a handler of the endpoint table is given, and what the edge owns.

:class:`EdgeState` is the edge's one object of state (the open vault, the body
deadline, the error writer and its store-error count, health, metrics, the
OpenAPI document): nothing of it lives in a module global. :class:`FastCall` is
what a fast handler gets; :class:`Answer` what it gives back, written raw.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from loomal.core.platform import PlatformPrincipal
from loomal.core.principals import Principal
from loomal.errors import ServerError
from loomal.server.client_address import client_address
from loomal.server.health import Health
from loomal.server.request_body import request_header
from loomal.server.responses import ErrorWriter

if TYPE_CHECKING:
    from loomal.runtime import RunningVault
    from loomal.server.metrics import Metrics

__all__ = [
    "PLATFORM_SCOPE_KEY",
    "PRINCIPAL_SCOPE_KEY",
    "Answer",
    "EdgeState",
    "FastCall",
    "authenticate",
    "identity_caller",
    "platform_caller",
]

PRINCIPAL_SCOPE_KEY = "loomal.principal"
"""Where the edge leaves the identity it authenticated, for what handles the request
next (a Litestar route, the MCP tools): authenticated, and counted, once."""

PLATFORM_SCOPE_KEY = "loomal.platform_principal"
"""The same, for a platform key on the platform routes."""


class EdgeState:
    """Everything the edge keeps between requests, owned by the edge of one app."""

    __slots__ = ("body_timeout", "errors", "health", "mcp", "metrics", "openapi", "vault")

    def __init__(self, *, body_timeout: float, metrics: Metrics | None) -> None:
        self.vault: RunningVault | None = None
        """The open vault (set by the app's lifespan)."""
        self.body_timeout = body_timeout
        """Seconds a whole request body may take to arrive."""
        self.errors = ErrorWriter()
        self.health = Health()
        self.metrics = metrics
        self.mcp: Callable[[Any, Any, Any], Awaitable[None]] | None = None
        """The ASGI app of ``/mcp`` (set by ``create_app``)."""
        self.openapi: bytes | None = None
        """The OpenAPI document, built from the table on first request."""

    def open_vault(self) -> RunningVault:
        if self.vault is None:
            raise ServerError("The server is still starting.", code="starting", status=503)
        return self.vault


class FastCall:
    """One request to a fast handler: already routed, authenticated, body read."""

    __slots__ = ("body", "edge", "params", "scope", "who")

    def __init__(
        self,
        edge: EdgeState,
        scope: Any,
        params: dict[str, str],
        who: Principal | PlatformPrincipal | None,
        body: bytes | None,
    ) -> None:
        self.edge = edge
        self.scope = scope
        self.params = params
        self.who = who
        self.body = body

    @property
    def vault(self) -> RunningVault:
        return self.edge.open_vault()

    @property
    def identity(self) -> Principal:
        if not isinstance(self.who, Principal):  # the table declares identity auth
            raise ServerError()
        return self.who


class Answer:
    """A complete answer the edge writes itself (security headers added)."""

    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        *,
        content_type: bytes = b"application/json",
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers
        self.content_type = content_type


async def authenticate(
    vault: RunningVault, scope: Any, *, authorization: str | None = None
) -> Principal:
    """The identity of a request: its ``Authorization`` header (or the value given,
    for callers that carry the key elsewhere) checked by the core, from the client
    address the edge resolved."""
    if authorization is None:
        authorization = request_header(scope, b"authorization")
    return await vault.identities.authenticate(authorization, client=client_address(scope))


async def authenticate_platform(vault: RunningVault, scope: Any) -> PlatformPrincipal:
    """The platform principal of ``Authorization: Bearer lopk-...``."""
    return await vault.platform.authenticate(
        request_header(scope, b"authorization"), client=client_address(scope)
    )


async def identity_caller(vault: RunningVault, scope: Any) -> Principal:
    """The identity the edge authenticated for this request (authenticating it here
    only if the request reached a route some other way)."""
    known = scope.get(PRINCIPAL_SCOPE_KEY)
    return known if isinstance(known, Principal) else await authenticate(vault, scope)


async def platform_caller(vault: RunningVault, scope: Any) -> PlatformPrincipal:
    """The platform principal the edge authenticated for this request."""
    known = scope.get(PLATFORM_SCOPE_KEY)
    return (
        known if isinstance(known, PlatformPrincipal) else await authenticate_platform(vault, scope)
    )
