"""The ASGI application: routes, the one error handler, limits, OpenAPI, lifespan.

Every error, ours or the framework's, leaves through :func:`error_response` as
``{"error": code, "message", "status", "reason"?}``. Unexpected exceptions are logged by type
and location only (their text could hold a value), and answered with a plain
500 that carries neither a trace nor a secret.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, Response, Router
from litestar.connection import ASGIConnection
from litestar.exceptions import (
    NotFoundException,
)
from litestar.handlers import asgi
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import Message, Receive, Scope, Send

from loomal import __version__
from loomal.config import ServerSettings
from loomal.console.routes import CONSOLE_ROUTES
from loomal.core.audit import run_audit_retention
from loomal.core.versions import run_deleted_retention
from loomal.errors import ApprovalPendingError
from loomal.runtime import RunningVault, open_vault
from loomal.server import broker_routes
from loomal.server.approval_routes import APPROVAL_ROUTES
from loomal.server.edge import API_MAX_BODY_BYTES, Edge, set_body_timeout
from loomal.server.mcp_mount import McpMount
from loomal.server.oauth_routes import OAUTH_CALLBACK, OAUTH_ROUTES
from loomal.server.parent_watch import PARENT_ENV, stop_when_orphaned
from loomal.server.platform_routes import PLATFORM_ROUTER
from loomal.server.request_log import configure_logging
from loomal.server.responses import (
    SECURITY_HEADERS,
    approval_pending,
    error_body,
    error_headers,
    to_loomal_error,
)
from loomal.server.routes import ROUTES, authenticate
from loomal.server.version_routes import VERSION_ROUTES

__all__ = ["create_app", "create_app_from_env", "error_response"]

log = logging.getLogger("loomal.server")


def error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    error = to_loomal_error(exc)
    if isinstance(error, ApprovalPendingError):  # held for a person: the SPEC's 202, not an error
        return Response(approval_pending(error, request.scope), status_code=202)
    return Response(error_body(error), status_code=error.http_status, headers=error_headers(error))


async def _add_security_headers(message: Message, scope: Scope) -> None:
    # Appended, not searched for: no response of ours sets these headers itself.
    if message["type"] == "http.response.start":
        message["headers"] = [*message.get("headers", ()), *SECURITY_HEADERS]


def _only_openapi_json(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Litestar's docs router answers unknown ``/v0/*`` paths with an HTML page;
    this guard sends them through our JSON 404 instead."""
    if connection.scope["path"] != "/v0/openapi.json":
        raise NotFoundException()


def _openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Loomal Vault",
        version=__version__,
        description="Encrypted credential vault for AI agents.",
        openapi_router=Router(
            path="/v0", route_handlers=[], guards=[_only_openapi_json], include_in_schema=False
        ),
        render_plugins=[JsonRenderPlugin(path="/openapi.json")],
        create_examples=False,
        components=Components(
            security_schemes={
                "bearerAuth": SecurityScheme(
                    type="http", scheme="bearer", description="Authorization: Bearer loid-..."
                )
            }
        ),
    )


def create_app(
    vault: RunningVault | None = None,
    *,
    settings: ServerSettings | None = None,
    on_startup: Callable[[RunningVault], Awaitable[None]] | None = None,
    parent_pid: int | None = None,
    clock: Callable[[], float] | None = None,
) -> Edge:
    """The server. Pass an open ``vault`` (tests), or ``settings`` to open one at start;
    ``parent_pid``: stop when that process is gone (a ``loomal serve`` worker);
    ``clock``: the vault's clock (see ``open_vault``; tests move a fake one)."""

    opened_vault: list[RunningVault] = []
    mcp_mount = McpMount(vault_of=lambda: opened_vault[0])

    @asgi("/mcp", is_mount=True, copy_scope=True)
    async def mcp_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        await mcp_mount(scope, receive, send)  # type: ignore[arg-type]

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        opened = vault or await open_vault(settings or ServerSettings.load(), clock=clock)
        app.state.vault = opened
        opened_vault.append(opened)
        if on_startup is not None:
            await on_startup(opened)
        interval = opened.settings.usage_flush_seconds
        flushers = [asyncio.create_task(opened.run_maintenance(interval))]
        if opened.settings.audit_retention_days > 0:
            retention = run_audit_retention(opened.store, opened.settings.audit_retention_days)
            flushers.append(asyncio.create_task(retention))
        deletions = run_deleted_retention(
            opened.store, opened.settings.deleted_retention_days, clock=time.time
        )
        flushers.append(asyncio.create_task(deletions))
        if parent_pid is not None:
            flushers.append(asyncio.create_task(stop_when_orphaned(parent_pid)))
        try:
            async with mcp_mount.running():
                yield
        finally:
            for flusher in flushers:
                flusher.cancel()
            await asyncio.gather(*flushers, return_exceptions=True)
            if vault is None:
                await opened.close()
            else:
                await opened.flush(final=True)

    handlers: dict[Any, Any] = {Exception: error_response, 404: error_response, 405: error_response}
    app = Litestar(
        route_handlers=[
            Router(
                path="/",
                route_handlers=[
                    *ROUTES,
                    *VERSION_ROUTES,
                    broker_routes.fetch,
                    *APPROVAL_ROUTES,
                    *OAUTH_ROUTES,
                ],
                before_request=authenticate,
            ),
            PLATFORM_ROUTER,
            OAUTH_CALLBACK,
            Router(path="/", route_handlers=CONSOLE_ROUTES, include_in_schema=False),
            mcp_endpoint,
            broker_routes.proxy,
        ],
        lifespan=[lifespan],
        exception_handlers=handlers,
        request_max_body_size=API_MAX_BODY_BYTES,
        openapi_config=_openapi_config(),
        before_send=[_add_security_headers],
        logging_config=None,
        debug=False,
    )
    configured = settings or (vault.settings if vault is not None else ServerSettings.load())
    set_body_timeout(configured.body_timeout_seconds)  # every body this process reads
    return Edge(
        app,
        cors_origins=configured.cors_origins,
        trusted_proxies=configured.trusted_proxies,
        metrics=configured.metrics,
        log_access=configured.access_log and configured.log_format == "json",
        tag_logs=configured.log_format == "json",
    )


def create_app_from_env() -> Edge:
    """Factory for worker processes: settings come from ``LOOMAL_*`` variables."""
    settings = ServerSettings.load()
    configure_logging(settings.log_format, access=settings.access_log)
    parent = os.environ.get(PARENT_ENV, "")
    return create_app(settings=settings, parent_pid=int(parent) if parent.isdigit() else None)
