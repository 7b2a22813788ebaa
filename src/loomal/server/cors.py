"""CORS: off unless origins are configured (``--cors-origin``), and then only for them.

Off, the server sends no ``Access-Control-*`` header at all, so a browser page
from another origin cannot read any answer, and a preflight meets the same 401
as any unauthenticated request. On, a listed origin may call the API with a
bearer key (never cookies: there are none), and a preflight from any other
origin is refused with the usual JSON error shape.

Wraps the whole ASGI app, hot reads included; a request without an ``Origin``
header passes straight through, so server-to-server agents pay nothing.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from loomal.errors import PermissionDeniedError
from loomal.server.responses import SECURITY_HEADERS, ErrorWriter

__all__ = ["Cors"]

ALLOWED_METHODS = b"GET, PUT, POST, DELETE"
ALLOWED_HEADERS = b"authorization, content-type, accept, mcp-protocol-version"
MAX_AGE = b"600"


class Cors:
    def __init__(self, app: ASGIApp, origins: tuple[str, ...], errors: ErrorWriter) -> None:
        self.app = app
        self._errors = errors
        self._any = "*" in origins
        self._origins = frozenset(origin.encode() for origin in origins)

    def _allowed(self, origin: bytes) -> bool:
        return self._any or origin in self._origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        origin = preflight = None
        for key, value in scope["headers"]:
            if key == b"origin":
                origin = value
            elif key == b"access-control-request-method":
                preflight = value
        if origin is None:
            await self.app(scope, receive, send)
        elif scope["method"] == "OPTIONS" and preflight is not None:
            await self._preflight(send, origin)
        elif self._allowed(origin):
            await self.app(scope, receive, _adding_origin(send, origin))
        else:
            await self.app(scope, receive, send)

    async def _preflight(self, send: Send, origin: bytes) -> None:
        if not self._allowed(origin):
            await self._errors.send(
                send,
                PermissionDeniedError(
                    "This origin may not call the API.", code="origin_not_allowed"
                ),
            )
            return
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [
                    (b"access-control-allow-origin", origin),
                    (b"access-control-allow-methods", ALLOWED_METHODS),
                    (b"access-control-allow-headers", ALLOWED_HEADERS),
                    (b"access-control-max-age", MAX_AGE),
                    (b"vary", b"Origin"),
                    *SECURITY_HEADERS,
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _adding_origin(send: Send, origin: bytes) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [
                *message.get("headers", ()),
                (b"access-control-allow-origin", origin),
                (b"vary", b"Origin"),
            ]
        await send(message)

    return wrapped
