"""Handlers of brokered requests: ``POST /v0/vault/{name}/fetch`` and the
pass-through proxy ``ANY /v0/proxy/{name}/{path...}``. Thin, like routes.py:
every rule (scope, hosts, addresses, injection, limits, scrubbing, audit) is
the core's; each is declared once, in ``server/endpoints.py``.

The proxy is a raw ASGI handler so that the answer streams back as it
arrives (a vendor SDK's server-sent events work) and the caller's key is read
from the ``Authorization`` header that the request then goes out without.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request
from litestar.params import JSONBody
from litestar.types import Receive

from loomal.broker.outbound import MAX_REQUEST_BYTES
from loomal.core.models import FetchRequest, FetchResponse
from loomal.core.types import validate_credential_name
from loomal.errors import BadRequestError, NotFoundError
from loomal.runtime import RunningVault
from loomal.server.calls import EdgeState, authenticate
from loomal.server.request_body import ClientDisconnected, read_body
from loomal.server.responses import SECURITY_HEADERS
from loomal.server.routes import NameParam, principal

__all__ = ["FETCH_BODY_LIMIT", "PROXY_BODY_LIMIT", "fetch", "proxy"]

log = logging.getLogger("loomal.server")

PROXY_PREFIX = "/v0/proxy/"
PROXY_BODY_LIMIT = MAX_REQUEST_BYTES
FETCH_BODY_LIMIT = MAX_REQUEST_BYTES * 4 // 3 + 64 * 1024  # a 1 MiB body, base64, plus the rest


async def fetch(
    request: Request[Any, Any, Any], name: NameParam, data: JSONBody[FetchRequest | None] = None
) -> FetchResponse:
    if data is None:
        raise BadRequestError(
            "The request body must be a JSON object with method and url.", reason="malformed_json"
        )
    vault: RunningVault = request.app.state.vault
    return await vault.broker.fetch(await principal(request), name, data)


def _caller_key(headers: Any) -> str | None:
    """``Authorization: Bearer loid-...``, or ``X-Api-Key: loid-...`` as SDKs such as
    Anthropic's send their key (so they work through the proxy unmodified too)."""
    found = dict(headers)
    if b"authorization" in found:
        return str(found[b"authorization"].decode("latin-1"))
    api_key = found.get(b"x-api-key", b"").decode("latin-1").strip()
    return f"Bearer {api_key}" if api_key.startswith("loid-") else None


async def proxy(edge: EdgeState, scope: Any, receive: Receive, send: Any) -> None:
    """``/v0/proxy/{name}/{path...}``: authenticate the caller's ``loid-`` key, then
    forward the request with the credential in its place and stream the answer.

    The answer's status line goes out with its first chunk: an upstream that fails
    before that (refused, stalled, a bad encoding, a truncated first read) gets our
    JSON 502; one that fails later has its stream cut (the client sees a truncated
    body, and the connection closes) and the failure is audited by the broker."""
    vault = edge.open_vault()
    raw_path = scope.get("raw_path") or scope["path"].encode()
    full = raw_path.decode("latin-1").split("?", 1)[0]  # some servers leave the query in
    name, _, rest = full.removeprefix(PROXY_PREFIX).partition("/")
    started = False
    try:
        if not full.startswith(PROXY_PREFIX) or not name:
            raise NotFoundError("Use /v0/proxy/{credential name}/{path}.")
        validate_credential_name(name)
        headers = scope["headers"]
        who = await authenticate(vault, scope, authorization=_caller_key(headers))
        body = await read_body(
            receive,
            PROXY_BODY_LIMIT,
            edge.body_timeout,
            too_large="A brokered request's body may be at most 1 MiB.",
        )
        async with vault.broker.proxy(
            who,
            name,
            method=scope["method"],
            path="/" + rest,
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body or None,
        ) as answer:
            start = {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [
                    *((k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers),
                    *SECURITY_HEADERS,
                ],
            }
            async for chunk in answer.chunks():
                if not chunk:
                    continue
                if not started:
                    await send(start)
                    started = True
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if not started:
                await send(start)
                started = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    except ClientDisconnected:
        return
    except Exception as exc:
        if not started:
            await edge.errors.send(send, exc, scope=scope)
            return
        # The status line is out: all that is left is to cut the stream, so the
        # client cannot take a truncated body for a whole one (the broker has
        # audited the reason).
        log.info("proxied answer cut short: %s", type(exc).__name__)
        raise ProxyStreamCut() from None


class ProxyStreamCut(Exception):
    """Raised out of the app after a proxied answer started and then failed: the
    HTTP server then closes the connection mid-body (there is no other way to tell
    an HTTP/1.1 client that a streamed body is incomplete)."""
