"""The edge: the one way a request enters, whatever serves it.

Every HTTP request takes one path: the client's address (trusted proxies), the
request id, access log and metrics (labelled from the endpoint table), CORS;
then the endpoint table (``server/endpoints.py``) routes it. For an entry of the
table the edge checks the ``Host`` header (Litestar's rule), authenticates the
caller (identity or platform key), reads the body within its limit and the body
deadline (:func:`~loomal.server.request_body.read_body`), and then:

- a ``fast`` entry's handler answers, written raw here (the calls agents make
  most: measured on this project's 2-core machine, Litestar's signature parsing,
  hooks and response objects cost half the throughput of a plain ASGI path);
- a ``raw`` entry (the proxy, /mcp) gets the request as it is;
- a ``route`` entry goes to Litestar, to the handler generated from the same
  entry, with the caller and the body already known.

What the table does not name (the console's pages, an unknown path) goes to
Litestar as it is. Every error leaves through the one writer
(``EdgeState.errors``); every answer gets the security headers once. The edge's
state is one object (:class:`~loomal.server.calls.EdgeState`), no globals.
"""

from __future__ import annotations

from litestar import Litestar
from litestar._asgi.utils import is_valid_host
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.types import Receive, Scope, Send

from loomal.core.platform import PlatformPrincipal
from loomal.core.principals import Principal
from loomal.core.types import NAME_RULE
from loomal.errors import (
    BadRequestError,
    MethodNotAllowedError,
    PayloadTooLargeError,
    ValidationError,
)
from loomal.server.broker_routes import ProxyStreamCut
from loomal.server.calls import (
    PLATFORM_SCOPE_KEY,
    PRINCIPAL_SCOPE_KEY,
    EdgeState,
    FastCall,
    authenticate,
    authenticate_platform,
)
from loomal.server.client_address import ClientAddresses
from loomal.server.cors import Cors
from loomal.server.endpoints import TABLE, Endpoint, EndpointTable, Match
from loomal.server.request_body import ClientDisconnected, read_body, replay_body, request_header
from loomal.server.request_log import RequestObserver
from loomal.server.responses import (
    encode,
    error_body,
    error_headers,
    incomplete_body,
    send_json,
    with_security_headers,
)

__all__ = ["Edge"]

_VAULT_PREFIX = "/v0/vault/"
_BAD_HOST = "The Host header is not a valid host name."


def _slashed_name(scope: Scope) -> bool:
    """Whether a ``/v0/vault/...`` path names a credential with a ``/`` in it:
    ``NAME/`` or ``NAME%2F...``. A router would strip the one and decode the
    other, and act on ``NAME`` (docs/api.md: such a name is a 422)."""
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    rest = raw.split(b"?", 1)[0][len(_VAULT_PREFIX) :]
    name, slash, tail = rest.partition(b"/")
    return b"%2f" in name.lower() or (bool(name) and bool(slash) and not tail)


def _host_is_valid(scope: Scope) -> bool:
    """Litestar's own check (its router applies it to what it routes), for what the
    edge serves itself: one rule for every endpoint."""
    for key, value in scope["headers"]:
        if key == b"host":
            return is_valid_host(value)
    return True


class Edge:
    """ASGI app: the one way in. ``litestar`` serves the route entries of the table
    and the console; ``state`` is everything the edge keeps."""

    def __init__(
        self,
        app: Litestar,
        state: EdgeState,
        *,
        cors_origins: tuple[str, ...] = (),
        trusted_proxies: tuple[str, ...] = (),
        log_access: bool = False,
        tag_logs: bool = False,
        table: EndpointTable = TABLE,
    ) -> None:
        self.litestar = app
        self.edge_state = state
        self._table = table
        self._litestar_secured = self._litestar_with_headers
        self._cors = Cors(self._dispatch, cors_origins, state.errors) if cors_origins else None
        self._proxies = ClientAddresses(trusted_proxies)
        self._observer = RequestObserver(
            metrics=state.metrics, log_access=log_access, tag_logs=tag_logs, labels=table.labels
        )
        self._direct = self._cors is None and self._observer.passive
        """Whether fast entries may answer before the observer (adding the request id
        themselves): saves wrapping ``send`` on the calls agents make most."""

    @property
    def state(self) -> State:
        """The Litestar application state (``state.vault`` once started)."""
        return self.litestar.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:  # lifespan
            await self.litestar(scope, receive, send)
            return
        if self._proxies:
            self._proxies.apply(scope)
        if self._direct:
            found = self._route(scope)
            endpoint = found.endpoint(scope["method"]) if found is not None else None
            if endpoint is not None and found is not None and endpoint.fast is not None:
                rid = self._observer.request_id(scope)
                await self._serve(endpoint, found, scope, receive, send, rid)
                return
        inner = self._dispatch if self._cors is None else self._cors
        await self._observer(inner, scope, receive, send)

    def _route(self, scope: Scope) -> Match | None:
        path: str = scope["path"]
        if (
            path.startswith(_VAULT_PREFIX)
            and (path[-1] == "/" or b"%" in (scope.get("raw_path") or b""))
            and _slashed_name(scope)
        ):
            return None  # _dispatch refuses it (a name with a "/")
        return self._table.match(path)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._route(scope)
        method: str = scope["method"]  # type: ignore[typeddict-item]  # HTTP only
        endpoint = found.endpoint(method) if found is not None else None
        if endpoint is not None and found is not None:
            await self._serve(endpoint, found, scope, receive, send, None)
            return
        if found is not None:
            await self._other_method(found, method, scope, send)
            return
        if scope["path"].startswith(_VAULT_PREFIX) and _slashed_name(scope):
            await self.edge_state.errors.send(send, ValidationError(NAME_RULE))
            return
        await self._litestar_secured(scope, receive, send)  # a 404, 405, or the console

    async def _other_method(self, found: Match, method: str, scope: Scope, send: Send) -> None:
        """A method the path's template does not declare: OPTIONS lists the ones it
        does (to a caller with a key, when they need one), any other is a 405."""
        allow = ", ".join(sorted({m for m in found.endpoints if m != "*"} | {"OPTIONS"}))
        errors = self.edge_state.errors
        try:
            if method != "OPTIONS":
                raise MethodNotAllowedError()
            auth = {endpoint.auth for endpoint in found.endpoints.values()}
            if "identity" in auth:
                await authenticate(self.edge_state.open_vault(), scope)
            elif "platform" in auth:
                await authenticate_platform(self.edge_state.open_vault(), scope)
        except Exception as exc:
            error = errors.error_of(exc)
            headers = {**error_headers(error), "allow": allow}
            await send_json(send, error.http_status, encode(error_body(error)), headers)
            return
        await send_json(send, 204, b"", {"allow": allow})

    async def _litestar_with_headers(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.litestar(scope, receive, with_security_headers(send))

    async def _serve(
        self,
        endpoint: Endpoint,
        found: Match,
        scope: Scope,
        receive: Receive,
        send: Send,
        request_id: bytes | None,
    ) -> None:
        """One request of the table; ``request_id``: the header to add (None: the
        observer adds it)."""
        state = self.edge_state
        try:
            if not _host_is_valid(scope):
                raise BadRequestError(_BAD_HOST)
            if endpoint.raw is not None:
                await endpoint.raw(state, scope, receive, send)
                return
            who: Principal | PlatformPrincipal | None = None
            if endpoint.auth == "identity":
                who = await authenticate(state.open_vault(), scope)
            elif endpoint.auth == "platform":
                who = await authenticate_platform(state.open_vault(), scope)
            body = await self._body(endpoint, scope, receive) if endpoint.reads_body else None
            if endpoint.fast is not None:
                answer = await endpoint.fast(FastCall(state, scope, found.params, who, body))
                if answer is not None:
                    await send_json(
                        send,
                        answer.status,
                        answer.body,
                        answer.headers,
                        request_id=request_id,
                        content_type=answer.content_type,
                    )
                    return
            # a route entry (or a body the fast handler does not take): Litestar, with
            # the caller known and the body read
            if who is not None:
                key = PRINCIPAL_SCOPE_KEY if endpoint.auth == "identity" else PLATFORM_SCOPE_KEY
                scope[key] = who  # type: ignore[literal-required]
            replayed = receive if body is None else replay_body(body, receive)
            if request_id is None:  # inside the observer already
                await self._litestar_secured(scope, replayed, send)
            else:
                await self._observer(self._litestar_secured, scope, replayed, send)
        except ClientDisconnected:
            await state.errors.send(send, incomplete_body(), request_id=request_id)
        except ProxyStreamCut:
            raise
        except Exception as exc:  # scope: a held read's approvalUrl on this origin
            await state.errors.send(send, exc, request_id=request_id, scope=scope)

    async def _body(self, endpoint: Endpoint, scope: Scope, receive: Receive) -> bytes:
        announced = request_header(scope, b"content-length")
        too_large = f"The request body is larger than {_size(endpoint.body_limit)}."
        if announced is not None and announced.isdigit() and int(announced) > endpoint.body_limit:
            raise PayloadTooLargeError(too_large)  # refused before reading any of it
        return await read_body(
            receive, endpoint.body_limit, self.edge_state.body_timeout, too_large=too_large
        )


def _size(limit: int) -> str:
    return f"{limit // 1024} KiB" if limit < 1024 * 1024 else f"{limit / 1024 / 1024:.1f} MiB"
