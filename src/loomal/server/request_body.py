"""Reading a request body off a raw ASGI ``receive``: the one reader every route's
body goes through (the hot store, the routes Litestar serves, /fetch, the proxy,
/mcp), with a size limit and a deadline.

Why a deadline: a client that sends its headers and then trickles its body (or
never sends it) would otherwise hold its connection, and one of the HTTP
server's connection slots, for as long as it likes (issue 28.7).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from loomal.errors import PayloadTooLargeError, RequestTimeoutError

__all__ = ["AnyReceive", "ClientDisconnected", "read_body", "replay_body", "request_header"]

AnyReceive = Callable[[], Awaitable[Any]]
"""Any ASGI ``receive`` (Litestar's and Starlette's type it differently)."""


class ClientDisconnected(Exception):
    """The client went away (or closed its side) in the middle of its request body."""


async def read_body(
    receive: AnyReceive, limit: int, deadline: float, *, too_large: str | None = None
) -> bytes:
    """The request body, read to its end.

    PayloadTooLargeError (``too_large`` its message) as soon as more than ``limit``
    bytes came, whatever the body announced or however it is framed (chunked
    included); RequestTimeoutError (408, its answer closes the connection) if the
    whole body has not come within ``deadline`` seconds; ClientDisconnected if the
    client leaves first.
    """
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(deadline):
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    raise ClientDisconnected()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLargeError(too_large)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
    except TimeoutError:
        raise RequestTimeoutError() from None


def replay_body(body: bytes, receive: AnyReceive) -> AnyReceive:
    """``receive`` with ``body`` given back first (it was read already), for the app
    the request goes on to (a Litestar route, the MCP server)."""
    given = False

    async def replay() -> Any:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def request_header(scope: Any, name: bytes) -> str | None:
    """The first value of header ``name`` (lower-case bytes), as the ASGI scope holds it."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None
