"""THE endpoint table: every endpoint of the server, declared once.

Each :class:`Endpoint` names its method and path template, who may call it, its
handler, and its OpenAPI entry. The edge compiles the table
(:class:`EndpointTable`): it routes each request by it, serves ``fast`` and
``raw`` entries itself, authenticates and reads the body of the ``route``
entries and hands them to the Litestar handler generated from the same entry.
The ``/metrics`` labels (the template, never the raw path) and the OpenAPI
document (``server/openapi.py``) come from it too.

Adding an endpoint: one entry here, its service method in the core, its handler
(``routes.py``, ``broker_routes.py``, ...), and tests. Nothing else routes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from loomal.core.models import (
    AuditPage,
    Credential,
    CredentialList,
    FetchResponse,
    IdentityResponse,
    StoreResponse,
    TotpBackupResponse,
    TotpResponse,
)
from loomal.oauth.connect import CALLBACK_PATH
from loomal.server import (
    approval_routes,
    broker_routes,
    oauth_routes,
    platform_routes,
    request_routes,
    routes,
    version_routes,
)
from loomal.server import error_texts as texts
from loomal.server.calls import Answer, EdgeState, FastCall
from loomal.server.health import HEALTH_PATH, HealthBody

__all__ = ["API_MAX_BODY_BYTES", "ENDPOINTS", "TABLE", "Endpoint", "EndpointTable", "Match"]

API_MAX_BODY_BYTES = 64 * 1024
"""The largest request body the API and /mcp read (the broker's limits are larger)."""

Auth = Literal["identity", "platform", "none", "own"]
"""Who the edge lets in: an identity key, a platform key, anyone, or the handler
authenticates itself (the proxy reads ``X-Api-Key`` too, /mcp answers OAuth-style)."""

FastHandler = Callable[[FastCall], Awaitable[Answer | None]]
RawHandler = Callable[[EdgeState, Any, Any, Any], Awaitable[None]]
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Methods a metrics label may carry; any other is counted as ``OTHER``."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One endpoint. Exactly one of ``route``/``fast``/``raw`` serves it, except a
    fast handler that returns None (a body it does not take) hands the request on
    to ``route``."""

    method: str
    """An HTTP method, or ``*`` (any: the proxy, the mounts)."""
    path: str
    """``/v0/vault/{name}``: ``{x}`` is one non-empty segment, ``{x...}`` the rest."""
    summary: str
    auth: Auth = "identity"
    route: Callable[..., Awaitable[Any]] | None = None
    """A Litestar handler function; its signature declares the query and body."""
    fast: FastHandler | None = None
    raw: RawHandler | None = None
    scope: str | None = None
    """The scope a key needs (the core checks it; the document says it)."""
    response: type | None = None
    """The answer's type, for the OpenAPI entry of a fast or raw endpoint."""
    status: int = 200
    errors: Mapping[int, str] = field(default_factory=dict)
    """The error statuses it may answer, each with what it means."""
    bodies: Mapping[int, type] = field(default_factory=dict)
    """The body of an error status, when it is not ``ErrorBody``."""
    description: str | None = None
    body_limit: int = API_MAX_BODY_BYTES
    documented: bool = True
    tags: tuple[str, ...] = ()

    @property
    def reads_body(self) -> bool:
        """Whether the edge reads the body (within limit and deadline) before the handler."""
        return self.raw is None and self.method in ("POST", "PUT", "PATCH")


async def _health(call: FastCall) -> Answer:
    status, body = await call.edge.health.answer(call.edge.vault)
    return Answer(status, body)


async def _health_head(call: FastCall) -> Answer:
    status, _ = await call.edge.health.answer(call.edge.vault)
    return Answer(status, b"")


async def _metrics(call: FastCall) -> Answer:
    from loomal.errors import NotFoundError

    if call.edge.metrics is None:  # served only with --metrics
        raise NotFoundError("No such endpoint.")
    body = await call.edge.metrics.render(call.edge.vault, call.edge.errors)
    return Answer(200, body, content_type=b"text/plain; version=0.0.4; charset=utf-8")


async def _openapi(call: FastCall) -> Answer:
    if call.edge.openapi is None:
        from loomal.server.openapi import openapi_document  # built once, on first request

        call.edge.openapi = openapi_document(ENDPOINTS)
    return Answer(200, call.edge.openapi)


async def _mcp(edge: EdgeState, scope: Any, receive: Any, send: Any) -> None:
    if edge.mcp is None:
        raise RuntimeError("the /mcp app was not set")
    await edge.mcp(scope, receive, send)


_NAMED = "/v0/vault/{name}"
_STORE_TEXT = (
    "200 whether it created or overwrote the credential (the hosted API's answer, and the "
    'only one its official MCP server accepts). If-Match: "<version>" (the ETag a read or '
    "store sent) stores only over that version, If-None-Match: * only when the name is "
    "free; otherwise 412 version_conflict and nothing is written."
)

ENDPOINTS: tuple[Endpoint, ...] = (
    # the calls agents make most: served raw by the edge
    Endpoint("GET", _NAMED, "Get decrypted credential (or a kept version: ?version=N)",
             fast=routes.fast_get_credential, route=routes.get_credential, scope="vault:read",
             response=Credential, errors=texts.reveal_errors(), bodies=texts.HELD),
    Endpoint("GET", _NAMED + "/totp", "Generate TOTP code", fast=routes.fast_totp,
             scope="vault:use", response=TotpResponse, errors=texts.reveal_errors(400),
             bodies=texts.HELD),
    Endpoint("PUT", _NAMED, "Store/update credential", fast=routes.fast_store_credential,
             route=routes.store_credential, scope="vault:write", response=StoreResponse,
             errors=texts.vault_errors(400, 408, 409, 412, 413), description=_STORE_TEXT),
    # the rest of the identity's API, through Litestar
    Endpoint("GET", "/v0/vault", "List credentials (metadata only)",
             route=routes.list_credentials, scope="vault:use", response=CredentialList,
             errors=texts.vault_errors()),
    Endpoint("DELETE", _NAMED,
             "Delete credential (recoverable; ?destroy=true removes every version now)",
             route=routes.delete_credential, status=204, scope="vault:write",
             errors=texts.vault_errors()),
    Endpoint("POST", _NAMED + "/totp/backup", "Consume one TOTP backup code",
             route=routes.totp_use_backup, scope="vault:read", response=TotpBackupResponse,
             errors=texts.vault_errors(400, 408, 410)),
    Endpoint("POST", _NAMED + "/fetch",
             "Make an HTTP request with the credential injected (the secret never returns)",
             route=broker_routes.fetch, scope="vault:use", response=FetchResponse,
             errors=texts.FETCH_ERRORS, bodies=texts.HELD,
             body_limit=broker_routes.FETCH_BODY_LIMIT),
    # a credential's history and recoverable delete
    Endpoint("GET", _NAMED + "/versions",
             "A credential's kept versions, newest first (never a secret)",
             route=version_routes.list_versions, scope="vault:use", errors=texts.VERSION_ERRORS),
    Endpoint("POST", _NAMED + "/versions/{version}/restore",
             "Make a kept version current again, as a new version",
             route=version_routes.restore_version, scope="vault:write",
             errors=texts.VERSION_ERRORS),
    Endpoint("POST", _NAMED + "/undelete", "Bring back a deleted credential (its latest version)",
             route=version_routes.undelete, scope="vault:write", errors=texts.VERSION_ERRORS),
    # OAuth credentials: token state, forced refresh, the connect flow
    Endpoint("GET", _NAMED + "/oauth",
             "The state of an OAUTH credential's access token (no refresh, no token)",
             route=oauth_routes.oauth_status, scope="vault:use", errors=texts.OAUTH_ERRORS),
    Endpoint("POST", _NAMED + "/oauth/refresh", "Refresh an OAUTH credential's access token now",
             route=oauth_routes.oauth_refresh, scope="vault:use", errors=texts.OAUTH_ERRORS,
             description="Forces a refresh through the provider's token endpoint, one at a "
             "time per credential across servers. Answers the token's state, never a token."),
    Endpoint("POST", _NAMED + "/oauth/connect",
             "Start the connect flow: the provider's authorization URL for a person",
             route=oauth_routes.oauth_connect, scope="vault:write", errors=texts.OAUTH_ERRORS,
             description="Authorization code with PKCE (S256) and a single-use state bound to "
             "this identity and credential, valid 10 minutes. The provider calls back "
             f"{CALLBACK_PATH} on the server's public URL, which stores the tokens."),
    Endpoint("GET", CALLBACK_PATH,
             "The connect flow's callback (the provider redirects a browser here)",
             auth="none", route=oauth_routes.oauth_callback, errors=texts.OAUTH_ERRORS,
             description="Exchanges the code, stores the tokens in the credential the flow was "
             "started for and answers a page for the person. A replayed, foreign or expired "
             "state is refused (400 bad_state, state_expired)."),
    # the person's side of request rules
    Endpoint("GET", "/v0/approvals", "List the identity's approvals, pending first",
             route=approval_routes.list_approvals, errors=texts.approval_errors()),
    Endpoint("GET", "/v0/approvals/{approval_id}",
             "One approval: what would be sent, who asked, its status",
             route=approval_routes.get_approval, errors=texts.approval_errors(404)),
    Endpoint("POST", "/v0/approvals/{approval_id}/approve",
             "Approve a held request (vault:approve or vault:write; never the key that asked)",
             route=approval_routes.approve, errors=texts.approval_errors(403, 404, 408, 409, 410)),
    Endpoint("POST", "/v0/approvals/{approval_id}/deny",
             "Deny a held request (vault:approve or vault:write; never the key that asked)",
             route=approval_routes.deny, errors=texts.approval_errors(403, 404, 409, 410)),
    # agents ask for the credentials they lack; a person answers
    Endpoint("POST", "/v0/requests",
             "Ask a person for a credential this identity lacks (any key that may use the vault)",
             route=request_routes.create_request, status=202,
             errors=texts.request_errors(403, 408, 413)),
    Endpoint("GET", "/v0/requests", "List the identity's access requests, pending first",
             route=request_routes.list_requests, errors=texts.request_errors()),
    Endpoint("GET", "/v0/requests/{request_id}",
             "One access request: who asked, for what, why, who answered (never a secret)",
             route=request_routes.get_request, errors=texts.request_errors(404)),
    Endpoint("POST", "/v0/requests/{request_id}/fulfill",
             "Store the credential a request asks for (vault:write), once",
             route=request_routes.fulfill_request,
             errors=texts.request_errors(403, 404, 408, 409, 410, 412, 413),
             description="Stored through the vault's one store path (validation, versions, "
             "audit, the credential limit). Create-only unless If-Match names the version "
             "it replaces. The request's allowedHosts are used when metadata omits them."),
    Endpoint("POST", "/v0/requests/{request_id}/decline",
             "Decline an access request (vault:write or vault:approve), once",
             route=request_routes.decline_request,
             errors=texts.request_errors(403, 404, 409, 410)),
    Endpoint("GET", "/v0/whoami", "The caller's identity", route=routes.whoami,
             response=IdentityResponse, errors=texts.vault_errors()),
    Endpoint("GET", "/v0/audit", "This identity's audit events, newest first",
             route=routes.audit_events, response=AuditPage, errors=texts.vault_errors()),
    Endpoint("*", "/v0/proxy/{name}/{path...}",
             "Pass-through proxy: the request goes to the credential's baseUrl with the "
             "credential in place of the caller's key (Authorization or X-Api-Key)",
             auth="own", raw=broker_routes.proxy, scope="vault:use", bodies=texts.HELD,
             errors=texts.FETCH_ERRORS),
    # the platform API (lopk- keys)
    Endpoint("POST", "/v0/platform/identities", "Create an identity and its API key (shown once)",
             auth="platform", route=platform_routes.create_identity, status=201,
             errors=texts.platform_errors(408, 409, 413), tags=("platform",)),
    Endpoint("GET", "/v0/platform/identities", "List identities, one page", auth="platform",
             route=platform_routes.list_identities, errors=texts.platform_errors(),
             tags=("platform",)),
    Endpoint("GET", "/v0/platform/identities/{identity_id}",
             "One identity, with its key's prefix", auth="platform",
             route=platform_routes.get_identity, errors=texts.platform_errors(404),
             tags=("platform",)),
    Endpoint("PATCH", "/v0/platform/identities/{identity_id}",
             "Rename, add or remove scopes", auth="platform",
             route=platform_routes.update_identity,
             errors=texts.platform_errors(404, 408, 409, 413),
             tags=("platform",)),
    Endpoint("POST", "/v0/platform/identities/{identity_id}/rotate-key",
             "A new API key (shown once); the old ones stop", auth="platform",
             route=platform_routes.rotate_key, errors=texts.platform_errors(404),
             tags=("platform",)),
    Endpoint("DELETE", "/v0/platform/identities/{identity_id}",
             "Delete an identity, its keys and its credentials", auth="platform", status=204,
             route=platform_routes.delete_identity, errors=texts.platform_errors(404),
             tags=("platform",)),
    # no key
    Endpoint("GET", HEALTH_PATH, "Liveness and readiness: 200 serving, else 503 and why",
             auth="none", fast=_health, response=HealthBody, errors=texts.HEALTH_ERRORS,
             bodies={503: HealthBody}),
    Endpoint("HEAD", HEALTH_PATH, "Liveness and readiness, without a body", auth="none",
             fast=_health_head, errors=texts.HEALTH_ERRORS),
    Endpoint("GET", "/v0/openapi.json", "This document", auth="none", fast=_openapi,
             documented=False),
    Endpoint("GET", "/metrics", "Prometheus metrics (loomal serve --metrics)", auth="none",
             fast=_metrics, documented=False),
    # mounts: /mcp is served by the edge, the console's pages by Litestar
    Endpoint("*", "/mcp", "MCP over streamable HTTP", auth="own", raw=_mcp, documented=False),
    Endpoint("*", "/mcp/{path...}", "MCP over streamable HTTP", auth="own", raw=_mcp,
             documented=False),
)  # fmt: skip


class Match:
    """What a path routes to: the template's endpoints by method, its parameters."""

    __slots__ = ("endpoints", "params", "template")

    def __init__(self, template: str, endpoints: Mapping[str, Endpoint], params: dict[str, str]):
        self.template = template
        self.endpoints = endpoints
        self.params = params

    def endpoint(self, method: str) -> Endpoint | None:
        return self.endpoints.get(method) or self.endpoints.get("*")


class _Template:
    __slots__ = ("endpoints", "literals", "names", "size", "tail", "template")

    def __init__(self, template: str) -> None:
        parts = template.split("/")
        self.template = template
        self.size = len(parts)
        self.tail = parts[-1].endswith("...}")
        """Whether the last parameter takes the rest of the path (``/`` included)."""
        self.literals = [(i, p) for i, p in enumerate(parts) if not p.startswith("{")]
        self.names = [(i, p.strip("{}.")) for i, p in enumerate(parts) if p.startswith("{")]
        self.endpoints: dict[str, Endpoint] = {}

    def bind(self, parts: list[str]) -> Match | None:
        if len(parts) != self.size and not (self.tail and len(parts) >= self.size - 1):
            return None
        for i, literal in self.literals:
            if parts[i] != literal:
                return None
        params = {}
        for i, name in self.names:
            if self.tail and i == self.size - 1:
                params[name] = "/".join(parts[i:])  # the rest, maybe empty
            elif not (value := parts[i]):
                return None
            else:
                params[name] = value
        return Match(self.template, self.endpoints, params)


class EndpointTable:
    """The table compiled for routing: an exact-path dict, then templates by
    segment count, then the ``{x...}`` ones."""

    def __init__(self, endpoints: tuple[Endpoint, ...]) -> None:
        templates: dict[str, _Template] = {}
        for endpoint in endpoints:
            template = templates.setdefault(endpoint.path, _Template(endpoint.path))
            if endpoint.method in template.endpoints:
                raise ValueError(f"{endpoint.method} {endpoint.path} is declared twice")
            template.endpoints[endpoint.method] = endpoint
        self._exact = {t.template: Match(t.template, t.endpoints, {}) for t in templates.values()
                       if not t.names}  # fmt: skip
        self._sized: dict[int, list[_Template]] = {}
        self._tails = [t for t in templates.values() if t.tail]
        for t in templates.values():
            if t.names and not t.tail:
                self._sized.setdefault(t.size, []).append(t)

    def match(self, path: str) -> Match | None:
        """The endpoints ``path`` routes to, or None (Litestar's console, or a 404)."""
        exact = self._exact.get(path)
        if exact is not None:
            return exact
        parts = path.split("/")
        for template in self._sized.get(len(parts), ()):
            if (found := template.bind(parts)) is not None:
                return found
        for template in self._tails:
            if (found := template.bind(parts)) is not None:
                return found
        return None

    def labels(self, method: str, path: str) -> tuple[str, str]:
        """The ``/metrics`` and access-log labels of a request: a known method or
        ``OTHER``, the route template or ``other``; never what the client wrote."""
        found = self.match(path)
        route = found.template if found is not None else "other"
        return (method if method in KNOWN_METHODS else "OTHER"), route


TABLE = EndpointTable(ENDPOINTS)
