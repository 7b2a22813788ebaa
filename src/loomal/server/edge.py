"""The edge: the one place a request enters, for REST routes, the hot reads, /mcp,
the broker proxy and the console alike. It owns what every transport shares:
the client's address (trusted proxies), the request id, access logs and
metrics, CORS, the request-body limit of the API, reading the
``Authorization`` header and authenticating it (:func:`authenticate`).

It also serves the two calls agents make most without the framework's
per-request machinery: ``GET /v0/vault/{name}`` and ``GET /v0/vault/{name}/totp``.

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

from typing import Any

import msgspec
from litestar import Litestar
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.types import Receive, Scope, Send

from loomal.core.identity import Principal
from loomal.runtime import Vault
from loomal.server.client_address import ClientAddresses, client_address
from loomal.server.cors import Cors
from loomal.server.health import HEALTH_PATH, Health
from loomal.server.metrics import METRICS_PATH, Metrics, send_metrics
from loomal.server.request_log import RequestObserver
from loomal.server.responses import send_error, send_json

__all__ = ["API_MAX_BODY_BYTES", "Edge", "authenticate", "request_header"]

API_MAX_BODY_BYTES = 64 * 1024
"""The largest request body the API and /mcp read (the broker's own limit is larger)."""

_PREFIX = "/v0/vault/"
_TOTP = "/totp"
_encode = msgspec.json.Encoder().encode


def request_header(scope: Any, name: bytes) -> str | None:
    """The first value of header ``name`` (lower-case bytes), as the ASGI scope holds it."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def authenticate(vault: Vault, scope: Any, *, authorization: str | None = None) -> Principal:
    """The principal of a request: its ``Authorization`` header (or the value given,
    for callers that carry the key elsewhere) checked by the core, from the client
    address the edge resolved."""
    if authorization is None:
        authorization = request_header(scope, b"authorization")
    return await vault.identities.authenticate(authorization, client=client_address(scope))


class Edge:
    """ASGI app: client address, request id, metrics, CORS, health, metrics and the
    hot GET routes, else the wrapped Litestar app (``litestar``)."""

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
        """Whether the hot reads may answer before the observer (adding the request id
        themselves): saves wrapping ``send`` on the two calls agents make most."""

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
        if self._direct and (hot := self._hot_read(scope)) is not None:
            await self._serve(*hot, scope, send, self._observer.request_id(scope))
            return
        await self._observer(inner, scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and scope["method"] == "GET":
            if (hot := self._hot_read(scope)) is not None:
                await self._serve(*hot, scope, send)
                return
            path: str = scope["path"]
            vault: Vault | None = getattr(self.litestar.state, "vault", None)
            if path == HEALTH_PATH:
                await send_json(send, *await self._health.answer(vault))
                return
            if path == METRICS_PATH and self._metrics is not None:
                await send_metrics(send, await self._metrics.render(vault))
                return
        await self.litestar(scope, receive, send)

    def _hot_read(self, scope: Scope) -> tuple[Vault, str, bool] | None:
        """``(vault, name, totp)`` for ``GET /v0/vault/{name}[/totp]`` once started."""
        if scope["type"] != ScopeType.HTTP or scope["method"] != "GET":
            return None
        path: str = scope["path"]
        if not path.startswith(_PREFIX):
            return None
        vault: Vault | None = getattr(self.litestar.state, "vault", None)
        if vault is None:
            return None
        rest = path[len(_PREFIX) :]
        totp = rest.endswith(_TOTP)
        name = rest[: -len(_TOTP)] if totp else rest
        if not name or "/" in name:
            return None
        return vault, name, totp

    async def _serve(
        self,
        vault: Vault,
        name: str,
        totp: bool,
        scope: Scope,
        send: Send,
        request_id: bytes | None = None,
    ) -> None:
        """One hot read; ``request_id``: the header to add (None: the observer adds it)."""
        try:
            who = await authenticate(vault, scope)
            result: Any = (
                await vault.service.totp(who, name)
                if totp
                else await vault.service.get_credential(who, name)
            )
        except Exception as exc:
            await send_error(send, exc, request_id=request_id)
            return
        await send_json(send, 200, _encode(result), request_id=request_id)
