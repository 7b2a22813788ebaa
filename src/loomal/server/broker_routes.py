"""Brokered requests over HTTP: ``POST /v0/vault/{name}/fetch`` and the
pass-through proxy ``ANY /v0/proxy/{name}/{path...}``. Thin, like routes.py:
every rule (scope, hosts, addresses, injection, limits, scrubbing, audit) is
the core's.

The proxy is a raw ASGI handler so that the answer streams back as it
arrives (a vendor SDK's server-sent events work) and the caller's key is read
from the ``Authorization`` header that the request then goes out without.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.enums import ScopeType
from litestar.handlers import asgi
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody
from litestar.types import HTTPScope, Receive, Scope, Send

from loomal.broker.outbound import MAX_REQUEST_BYTES as MAX_BODY_BYTES
from loomal.core.approval_models import ApprovalPending
from loomal.core.models import ErrorBody, FetchRequest, FetchResponse
from loomal.core.types import validate_credential_name
from loomal.errors import (
    ApprovalPendingError,
    BadRequestError,
    NotFoundError,
    PayloadTooLargeError,
)
from loomal.runtime import RunningVault
from loomal.server.edge import authenticate
from loomal.server.responses import (
    approval_pending,
    encode_json,
    inside_litestar,
    send_error,
    send_json,
)
from loomal.server.routes import NameParam, principal

__all__ = ["fetch", "proxy"]

_PROXY_PREFIX = "/v0/proxy/"
_FETCH_BODY_LIMIT = MAX_BODY_BYTES * 4 // 3 + 64 * 1024  # a 1 MiB body, base64, plus the rest

_FETCH_ERRORS = {
    400: "bad_request: reason not_injectable, no_allowed_hosts, host_not_allowed, "
    "https_required, forbidden_address or vault_key_in_request (nothing was sent)",
    401: "Missing, unknown, revoked or expired API key",
    403: "The API key lacks vault:use (or vault:read); request_not_allowed (no rule allows "
    "it); approval_denied",
    404: "No credential of this identity has that name (or no such approvalId)",
    409: "approval_mismatch: the approval was given for another request",
    410: "The credential has expired (expired); reason approval_expired, approval_used",
    413: "Request body larger than 1 MiB",
    422: "Validation failed (a forbidden header, a bad URL or method); the message names it",
    429: "Rate limited; budget_exhausted (a rule's budget, with Retry-After)",
    502: "bad_gateway: reason dns_failed, connect_failed, tls_failed, timeout, "
    "response_too_large, unsupported_encoding, redirect_not_allowed, too_many_redirects "
    "or upstream_error",
    503: "Sealed",
}


@post(
    "/v0/vault/{name:str}/fetch",
    summary="Make an HTTP request with the credential injected (the secret never returns)",
    status_code=200,
    request_max_body_size=_FETCH_BODY_LIMIT,
    responses={
        202: ResponseSpec(
            data_container=ApprovalPending,
            description="approval_pending: a rule holds the request for a person; repeat it "
            "with approvalId once approved (nothing was sent)",
        ),
        **{
            status: ResponseSpec(data_container=ErrorBody, description=text)
            for status, text in _FETCH_ERRORS.items()
        },
    },
    security=[{"bearerAuth": []}],
)
async def fetch(
    request: Request[Any, Any, Any], name: NameParam, data: JSONBody[FetchRequest | None] = None
) -> FetchResponse:
    if data is None:
        raise BadRequestError(
            "The request body must be a JSON object with method and url.", reason="malformed_json"
        )
    vault: RunningVault = request.app.state.vault
    return await vault.broker.fetch(principal(request), name, data)


def _caller_key(headers: Any) -> str | None:
    """``Authorization: Bearer loid-...``, or ``X-Api-Key: loid-...`` as SDKs such as
    Anthropic's send their key (so they work through the proxy unmodified too)."""
    found = dict(headers)
    if b"authorization" in found:
        return str(found[b"authorization"].decode("latin-1"))
    api_key = found.get(b"x-api-key", b"").decode("latin-1").strip()
    return f"Bearer {api_key}" if api_key.startswith("loid-") else None


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionResetError
        chunk: bytes = message.get("body", b"")  # type: ignore[assignment]
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLargeError("A brokered request's body may be at most 1 MiB.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks) if size else None


@asgi("/v0/proxy", is_mount=True, copy_scope=True, include_in_schema=False)
async def proxy(scope: Scope, receive: Receive, send: Send) -> None:
    """``/v0/proxy/{name}/{path...}``: authenticate the caller's ``loid-`` key, then
    forward the request with the credential in its place and stream the answer."""
    if scope["type"] != ScopeType.HTTP:
        return
    http: HTTPScope = scope
    vault: RunningVault = scope["app"].state.vault
    raw_path = scope.get("raw_path") or scope["path"].encode()
    full = raw_path.decode("latin-1").split("?", 1)[0]  # some servers leave the query in
    name, _, rest = full.removeprefix(_PROXY_PREFIX).partition("/")
    started = False
    try:
        if not full.startswith(_PROXY_PREFIX) or not name:
            raise NotFoundError("Use /v0/proxy/{credential name}/{path}.")
        validate_credential_name(name)
        headers = scope["headers"]
        who = await authenticate(vault, scope, authorization=_caller_key(headers))
        body = await _read_body(receive)
        async with vault.broker.proxy(
            who,
            name,
            method=http["method"],
            path="/" + rest,
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body,
        ) as answer:
            await send(
                {
                    "type": "http.response.start",
                    "status": answer.status,
                    "headers": [  # the app's before_send adds the security headers
                        (k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers
                    ],
                }
            )
            started = True
            async for chunk in answer.chunks():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    except ConnectionResetError:
        return
    except ApprovalPendingError as pending:
        body = encode_json(approval_pending(pending, scope))
        await send_json(inside_litestar(send), 202, body)
    except Exception as exc:
        if not started:
            await send_error(inside_litestar(send), exc)
        # else: the answer was cut short (too large, timed out); the client sees a cut
        # connection, and the audit log has the reason
