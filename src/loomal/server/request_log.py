"""Per-request observation at the edge: the request id, metrics and access log.

Every response carries ``X-Request-Id``: the caller's own if well formed (1-64
of ``A-Z a-z 0-9 . _ : -``, so it can be logged and echoed safely), else a new
16-hex-digit id (a per-process random prefix and a sequence number). With
``--log-format json`` the id sits in a context variable while the request
runs, so every log line it causes carries it.

With ``--log-format json`` every line of the ``loomal`` loggers is one JSON
object (``time``, ``level``, ``logger``, ``message``, ``requestId``), and
``--access-log`` writes one line per request from here (method, route
template, status, duration, client, request id; never a path's credential
name, a header value or a body) instead of the server's own access log.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from litestar.types import Message, Receive, Scope, Send

from loomal.server.client_address import client_address
from loomal.server.metrics import Metrics

__all__ = ["REQUEST_ID", "JsonFormatter", "RequestObserver", "configure_logging"]

REQUEST_ID: ContextVar[str | None] = ContextVar("loomal_request_id", default=None)
_WELL_FORMED = re.compile(rb"[A-Za-z0-9._:\-]{1,64}")
access_log = logging.getLogger("loomal.access")

App = Callable[[Scope, Receive, Send], Awaitable[None]]
Labels = Callable[[str, str], tuple[str, str]]
"""``(method, path) -> (method label, route label)``: the endpoint table's."""


def _unlabelled(method: str, path: str) -> tuple[str, str]:
    return "OTHER", "other"


def _caller_request_id(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return bytes(value) if _WELL_FORMED.fullmatch(value) else None
    return None


class RequestObserver:
    """Wraps one HTTP request: sets its id, adds the header, counts and logs it."""

    def __init__(
        self,
        *,
        metrics: Metrics | None = None,
        log_access: bool = False,
        tag_logs: bool = False,
        labels: Labels = _unlabelled,
    ) -> None:
        self._metrics = metrics
        self._labels = labels
        self._log_access = log_access
        # New ids: a random prefix drawn here, in the worker (after the fork, so workers
        # differ), and a sequence number: unique, and cheaper than the OS's random
        # source per request; a request id is a label, not a secret.
        self._prefix = os.urandom(4).hex().encode()
        self._sequence = itertools.count()
        self._tag_logs = tag_logs or log_access
        """Whether log lines get the request id (JSON logs): a context variable per request."""

    @property
    def passive(self) -> bool:
        """Whether all this observer does is the request id (no metrics, access log or
        log tagging): then a response that adds the header itself needs no wrapping."""
        return not (self._tag_logs or self._metrics is not None or self._log_access)

    def request_id(self, scope: Scope) -> bytes:
        """The caller's ``X-Request-Id`` if well formed, else a new one."""
        return _caller_request_id(scope) or b"%s%08x" % (
            self._prefix,
            next(self._sequence) & 0xFFFFFFFF,
        )

    async def __call__(self, app: App, scope: Scope, receive: Receive, send: Send) -> None:
        rid = self.request_id(scope)
        header = (b"x-request-id", rid)
        status = 500  # if the app fails before answering, the server answers 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = REQUEST_ID.set(rid.decode()) if self._tag_logs else None
        timed = self._metrics is not None or self._log_access
        started = time.perf_counter() if timed else 0.0
        try:
            await app(scope, receive, send_with_id)
        finally:
            if timed:
                self._record(scope, status, time.perf_counter() - started)
            if token is not None:
                REQUEST_ID.reset(token)

    def _record(self, scope: Any, status: int, seconds: float) -> None:
        method, route = self._labels(scope["method"], scope["path"])
        if self._metrics is not None:
            self._metrics.observe(method, route, status, seconds)
        if self._log_access:
            access_log.info(
                "%s %s %d",
                method,
                route,
                status,
                extra={
                    "access": {
                        "method": method,
                        "route": route,
                        "status": status,
                        "durationMs": round(seconds * 1000, 3),
                        "client": client_address(scope),
                    }
                },
            )


class JsonFormatter(logging.Formatter):
    """One JSON object per line; an exception is named by type only (its text could
    hold a value)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["requestId"] = request_id
        access = getattr(record, "access", None)
        if isinstance(access, dict):
            entry.update(access)
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(log_format: str, *, access: bool = False) -> None:
    """Log to stderr, as text or JSON lines: ``loomal`` loggers from INFO, others'
    from WARNING (idempotent: the parent and each worker call it once)."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()  # other libraries' warnings in the same format
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("loomal").setLevel(logging.INFO)
    access_log.setLevel(logging.INFO if access else logging.WARNING)
