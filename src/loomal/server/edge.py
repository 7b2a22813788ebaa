"""The edge: the one place a request enters, for REST routes, the hot reads, /mcp,
the broker proxy and the console alike. It owns what every transport shares:
the client's address (trusted proxies), the request id, access logs and
metrics, CORS, the request-body limit of the API, reading the
``Authorization`` header and authenticating it (:func:`authenticate`).

It also serves the calls agents make most without the framework's per-request
machinery: ``GET /v0/vault/{name}``, ``GET /v0/vault/{name}/totp`` and, for a
plain well-formed body, ``PUT /v0/vault/{name}`` (any other body goes on to the
declared route, so every error and its message stays the route's).

Why: measured on this project's 2-core machine, the TOTP use case served 30k
requests/s behind a plain ASGI path and 15.6k through a Litestar route (same
service, store, crypto and server; see docs/benchmarks.md). Litestar's
signature parsing, hooks and response objects cost half the throughput.

What it is not: a second implementation. It authenticates with the same
IdentityService call, runs the same VaultService method, encodes the same
model, and answers errors through the same mapping and headers
(``server.responses``). The routes stay declared in ``routes.py`` (OpenAPI, and
Litestar serves everything this path does not match: other methods, trailing
slashes, names with a ``/``). The whole API test suite runs through it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Litestar
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.types import Receive, Scope, Send

from loomal.config import DEFAULT_BODY_TIMEOUT_SECONDS
from loomal.core.models import StoreRequest
from loomal.core.preconditions import WritePrecondition
from loomal.core.principals import Principal
from loomal.core.types import NAME_RULE
from loomal.errors import RequestTimeoutError, ValidationError
from loomal.runtime import RunningVault
from loomal.server.client_address import ClientAddresses, client_address
from loomal.server.cors import Cors
from loomal.server.health import HEALTH_PATH, Health
from loomal.server.metrics import METRICS_PATH, Metrics, send_metrics
from loomal.server.request_log import RequestObserver
from loomal.server.responses import etag, incomplete_body, send_error, send_json

__all__ = [
    "API_MAX_BODY_BYTES",
    "PRINCIPAL_SCOPE_KEY",
    "ClientDisconnected",
    "Edge",
    "authenticate",
    "body_deadline",
    "body_timeout",
    "incomplete_body",
    "read_body",
    "replay_body",
    "request_header",
    "set_body_timeout",
]

API_MAX_BODY_BYTES = 64 * 1024
"""The largest request body the API and /mcp read (the broker's own limit is larger)."""

PRINCIPAL_SCOPE_KEY = "loomal.principal"
"""Where the edge leaves the caller it has authenticated, for what handles the request
next (the store route's hook, the MCP tools): authenticated, and counted, once."""

_PREFIX = "/v0/vault/"
_TOTP = "/totp"
_encode = msgspec.json.Encoder().encode
_store_decoder = msgspec.json.Decoder(StoreRequest)


def _decode_store(body: bytes) -> StoreRequest | None:
    """A store's body, decoded strictly; None when it is not a plain, valid one (the
    declared route then answers with its own error; what strict decoding accepts,
    the route's decoding accepts alike)."""
    try:
        return _store_decoder.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None


AnyReceive = Callable[[], Awaitable[Any]]
"""Any ASGI ``receive`` (Litestar's and Starlette's type it differently)."""


def replay_body(body: bytes, receive: AnyReceive) -> AnyReceive:
    """``receive`` with ``body`` given back first (it was read already), for the app
    the request goes on to (a declared route, the MCP server)."""
    given = False

    async def replay() -> Any:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class ClientDisconnected(Exception):
    """The client went away (or closed its side) in the middle of its request body."""


_body_timeout = [DEFAULT_BODY_TIMEOUT_SECONDS]
"""The deadline for a whole request body, in seconds: one per process (each worker
serves one app, whose settings set it: :func:`set_body_timeout`)."""


def set_body_timeout(seconds: float) -> None:
    """Set the deadline every body read of this process gets (``create_app`` does)."""
    _body_timeout[0] = seconds


def body_timeout() -> float:
    """The deadline, in seconds, for receiving a whole request body."""
    return _body_timeout[0]


def body_deadline() -> asyncio.Timeout:
    """``async with body_deadline():`` around reading a request body: TimeoutError
    once :func:`body_timeout` has passed (callers answer it with
    :class:`~loomal.errors.RequestTimeoutError`). A client that sends its headers
    then trickles (or never sends) its body would otherwise hold its connection,
    and one of the HTTP server's connection slots, for as long as it likes."""
    return asyncio.timeout(_body_timeout[0])


async def read_body(receive: AnyReceive) -> bytes:
    """The request body, read to its end, or until more than the API's limit came:
    then what was read (longer than the limit: the caller refuses it, or hands it on
    replayed). ClientDisconnected if the client leaves first; RequestTimeoutError
    (408, its answer closes the connection) if the body has not come within
    :func:`body_timeout` seconds."""
    chunks: list[bytes] = []
    size = 0
    try:
        async with body_deadline():
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    raise ClientDisconnected()
                chunk = message.get("body", b"")
                size += len(chunk)
                chunks.append(chunk)
                if size > API_MAX_BODY_BYTES or not message.get("more_body", False):
                    return b"".join(chunks)
    except TimeoutError:
        raise RequestTimeoutError() from None


def request_header(scope: Any, name: bytes) -> str | None:
    """The first value of header ``name`` (lower-case bytes), as the ASGI scope holds it."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def authenticate(
    vault: RunningVault, scope: Any, *, authorization: str | None = None
) -> Principal:
    """The principal of a request: its ``Authorization`` header (or the value given,
    for callers that carry the key elsewhere) checked by the core, from the client
    address the edge resolved."""
    if authorization is None:
        authorization = request_header(scope, b"authorization")
    return await vault.identities.authenticate(authorization, client=client_address(scope))


def _slashed_name(scope: Scope) -> bool:
    """Whether a ``/v0/vault/...`` path names a credential with a ``/`` in it:
    ``NAME/`` or ``NAME%2F...``. The router would strip the one and decode the
    other, and act on ``NAME`` (docs/api.md: such a name is a 422)."""
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    rest = raw.split(b"?", 1)[0][len(_PREFIX) :]
    name, slash, tail = rest.partition(b"/")
    return b"%2f" in name.lower() or (bool(name) and bool(slash) and not tail)


class Edge:
    """ASGI app: client address, request id, metrics, CORS, health, metrics and the
    hot routes, else the wrapped Litestar app (``litestar``)."""

    def __init__(
        self,
        app: Litestar,
        *,
        cors_origins: tuple[str, ...] = (),
        trusted_proxies: tuple[str, ...] = (),
        metrics: bool = False,
        log_access: bool = False,
        tag_logs: bool = False,
    ) -> None:
        self.litestar = app
        self._cors = Cors(self._dispatch, cors_origins) if cors_origins else None
        self._proxies = ClientAddresses(trusted_proxies)
        self._metrics = Metrics() if metrics else None
        self._observer = RequestObserver(
            metrics=self._metrics, log_access=log_access, tag_logs=tag_logs
        )
        self._health = Health()
        self._direct = self._cors is None and self._observer.passive
        """Whether the hot routes may answer before the observer (adding the request id
        themselves): saves wrapping ``send`` on the calls agents make most."""

    @property
    def state(self) -> State:
        """The application state (``state.vault`` once started)."""
        return self.litestar.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        inner = self._dispatch if self._cors is None else self._cors
        if scope["type"] != ScopeType.HTTP:
            await inner(scope, receive, send)
            return
        if self._proxies:
            self._proxies.apply(scope)
        if self._direct and (hot := self._hot_route(scope)) is not None:
            await self._serve(*hot, scope, receive, send, self._observer.request_id(scope))
            return
        await self._observer(inner, scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            # (answered before the observer already when direct)
            if not self._direct and (hot := self._hot_route(scope)) is not None:
                await self._serve(*hot, scope, receive, send)
                return
            path: str = scope["path"]
            vault: RunningVault | None = getattr(self.litestar.state, "vault", None)
            if path == HEALTH_PATH and scope["method"] == "GET":
                await send_json(send, *await self._health.answer(vault))
                return
            if path == METRICS_PATH and scope["method"] == "GET" and self._metrics is not None:
                await send_metrics(send, await self._metrics.render(vault))
                return
            if path.startswith(_PREFIX) and _slashed_name(scope):
                await send_error(send, ValidationError(NAME_RULE))
                return
        await self.litestar(scope, receive, send)

    def _hot_route(self, scope: Scope) -> tuple[RunningVault, str, str] | None:
        """``(vault, name, call)`` for ``GET /v0/vault/{name}`` (``get``),
        ``GET /v0/vault/{name}/totp`` (``totp``) and ``PUT /v0/vault/{name}``
        (``store``), once started; None for everything else."""
        if scope["type"] != ScopeType.HTTP:
            return None
        method = scope["method"]
        if method != "GET" and method != "PUT":
            return None
        path: str = scope["path"]
        if not path.startswith(_PREFIX):
            return None
        vault: RunningVault | None = getattr(self.litestar.state, "vault", None)
        if vault is None:
            return None
        if method == "GET" and scope.get("query_string"):
            return None  # ?version=N: the declared route reads a kept version
        name = path[len(_PREFIX) :]
        call = "get" if method == "GET" else "store"
        if call == "get" and name.endswith(_TOTP):
            name, call = name[: -len(_TOTP)], "totp"
        if not name or "/" in name:
            return None
        return vault, name, call

    async def _serve(
        self,
        vault: RunningVault,
        name: str,
        call: str,
        scope: Scope,
        receive: Receive,
        send: Send,
        request_id: bytes | None = None,
    ) -> None:
        """One hot call; ``request_id``: the header to add (None: the observer adds it)."""
        result: Any
        headers: dict[str, str] | None = None
        try:
            who = await authenticate(vault, scope)
            if call == "store":
                body = await self._store_body(scope, receive)
                if body is None or (request := _decode_store(body)) is None:
                    # Anything but a plain, well-formed body: the declared route answers
                    # it (same errors, same messages), as the caller already identified.
                    scope[PRINCIPAL_SCOPE_KEY] = who  # type: ignore[literal-required]
                    replayed = receive if body is None else replay_body(body, receive)
                    if request_id is None:  # inside the observer already
                        await self.litestar(scope, replayed, send)
                    else:  # nothing sent yet: the observer adds the request id
                        await self._observer(self.litestar, scope, replayed, send)
                    return
                precondition = WritePrecondition.from_headers(
                    request_header(scope, b"if-match"), request_header(scope, b"if-none-match")
                )
                result, _ = await vault.service.store_credential(who, name, request, precondition)
                status, headers = 200, etag(result.version)
            elif call == "totp":
                status, result = 200, await vault.service.totp(who, name)
            else:
                result = await vault.service.get_credential(who, name)
                status, headers = 200, etag(result.version)
        except ClientDisconnected:
            await send_error(send, incomplete_body(), request_id=request_id)
            return
        except Exception as exc:
            await send_error(send, exc, request_id=request_id)
            return
        await send_json(send, status, _encode(result), headers, request_id=request_id)

    @staticmethod
    async def _store_body(scope: Scope, receive: Receive) -> bytes | None:
        """The body of a store, when it announces a length within the API's limit and
        sends no more than that; None: leave the request to the declared route (no
        length, a bad one, too large: it answers those) with what was read replayed."""
        announced = request_header(scope, b"content-length")
        if announced is None or not announced.isdigit() or int(announced) > API_MAX_BODY_BYTES:
            return None
        return await read_body(receive)
