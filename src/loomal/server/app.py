"""The ASGI application: the endpoint table's Litestar handlers, the console, the
one error handler, lifespan; wrapped in the edge, the one way in.

Every error, ours or the framework's, leaves through the edge's one error writer
as ``{"error": code, "message", "status", "reason"?}``. Unexpected exceptions
are logged by type and location only (their text could hold a value), and
answered with a plain 500 that carries neither a trace nor a secret.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar

from loomal.config import ServerSettings
from loomal.console.routes import CONSOLE_ROUTES
from loomal.core.audit import run_audit_retention
from loomal.core.versions import run_deleted_retention
from loomal.runtime import RunningVault, open_vault
from loomal.server.calls import EdgeState
from loomal.server.edge import Edge
from loomal.server.endpoints import API_MAX_BODY_BYTES, ENDPOINTS
from loomal.server.mcp_mount import McpMount
from loomal.server.metrics import Metrics
from loomal.server.openapi import litestar_handler
from loomal.server.parent_watch import PARENT_ENV, stop_when_orphaned
from loomal.server.request_log import configure_logging

__all__ = ["create_app", "create_app_from_env"]

log = logging.getLogger("loomal.server")


def create_app(
    vault: RunningVault | None = None,
    *,
    settings: ServerSettings | None = None,
    on_startup: Callable[[RunningVault], Awaitable[None]] | None = None,
    parent_pid: int | None = None,
    clock: Callable[[], float] | None = None,
    freeze_heap: bool = False,
) -> Edge:
    """The server. Pass an open ``vault`` (tests), or ``settings`` to open one at start;
    ``parent_pid``: stop when that process is gone (a ``loomal serve`` worker);
    ``clock``: the vault's clock (see ``open_vault``; tests move a fake one);
    ``freeze_heap``: see :func:`frozen_heap` (worker processes)."""

    configured = settings or (vault.settings if vault is not None else ServerSettings.load())
    state = EdgeState(
        body_timeout=configured.body_timeout_seconds,
        metrics=Metrics() if configured.metrics else None,
    )
    mcp_mount = McpMount(state.open_vault, state.errors, configured.body_timeout_seconds)
    state.mcp = mcp_mount

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        opened = vault or await open_vault(settings or ServerSettings.load(), clock=clock)
        app.state.vault = state.vault = opened
        if on_startup is not None:
            await on_startup(opened)
        interval = opened.settings.usage_flush_seconds
        flushers = [
            asyncio.create_task(opened.run_maintenance(interval)),
            asyncio.create_task(opened.run_webhooks()),
        ]
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
            async with mcp_mount.running(), frozen_heap(freeze_heap):
                yield
        finally:
            for flusher in flushers:
                flusher.cancel()
            await asyncio.gather(*flushers, return_exceptions=True)
            if vault is None:
                await opened.close()
            else:
                await opened.flush(final=True)

    answer_error = state.errors.response
    handlers: dict[Any, Any] = {Exception: answer_error, 404: answer_error, 405: answer_error}
    app = Litestar(
        route_handlers=[
            *(litestar_handler(endpoint) for endpoint in ENDPOINTS if endpoint.route is not None),
            # Registered as they are: a Router around them would be deep-copied per app,
            # 12 ms of CPU each time, and add nothing (no prefix; no schema is generated).
            *CONSOLE_ROUTES,
        ],
        lifespan=[lifespan],
        exception_handlers=handlers,
        request_max_body_size=API_MAX_BODY_BYTES,
        openapi_config=None,  # the edge serves the table's document
        logging_config=None,
        debug=False,
    )
    return Edge(
        app,
        state,
        cors_origins=configured.cors_origins,
        trusted_proxies=configured.trusted_proxies,
        log_access=configured.access_log and configured.log_format == "json",
        tag_logs=configured.log_format == "json",
    )


def create_app_from_env() -> Edge:
    """Factory for worker processes: settings come from ``LOOMAL_*`` variables."""
    settings = ServerSettings.load()
    configure_logging(settings.log_format, access=settings.access_log)
    parent = os.environ.get(PARENT_ENV, "")
    return create_app(
        settings=settings,
        parent_pid=int(parent) if parent.isdigit() else None,
        freeze_heap=True,
    )


@asynccontextmanager
async def frozen_heap(freeze: bool) -> AsyncIterator[None]:
    """While serving, what start-up left alive is out of the garbage collector's
    sight (:func:`gc.freeze`), and young collections are rarer
    (:data:`_SERVING_GC_THRESHOLDS`).

    Why: a worker holds over a hundred thousand objects that live as long as it
    does (the framework, the endpoint table, the store's statements), and every
    full collection walked all of them, stopping the whole worker for tens of
    milliseconds: its event loop, and its writer thread while it held the write
    lock every other worker waits for. Those pauses were the slowest 1% of
    requests under load (``make bench``'s p99). Frozen, a full collection walks
    only what was made since. Thawed at the end, so that the interpreter's exit
    still frees them (extension modules report what it did not). Worker
    processes only: a process that builds app after app (the tests) would keep
    each one's leftovers for as long as the next one serves.
    """
    if not freeze:
        yield
        return
    gc.collect()
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(*_SERVING_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


_SERVING_GC_THRESHOLDS = (50_000, 20, 100)
"""Collect the young generation after 50,000 new objects instead of Python's 700.
A request makes hundreds of objects, nearly all freed by reference counting,
so at 700 a young collection ran every few requests to find next to nothing;
with the start-up heap frozen, the older generations stay small either way."""
