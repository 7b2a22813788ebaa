"""HTTP routes of OAuth credentials: a forced refresh (``POST
/v0/vault/{name}/oauth/refresh``), for identity keys, and the connect flow's
callback (``GET /v0/oauth/callback``), which a browser reaches from the
provider. Parse, call the service, return its model; every rule is the core's
and ``loomal.oauth``'s."""

from __future__ import annotations

import html
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, QueryParameter

from loomal.core.models import ConnectRequest, ConnectStarted, ErrorBody, OAuthState
from loomal.oauth.connect import CALLBACK_PATH
from loomal.server.routes import NameParam, _vault, principal

__all__ = ["OAUTH_CALLBACK", "OAUTH_ROUTES"]

_ERROR_TEXT = {
    400: "not_refreshable: the credential has no metadata.oauth",
    401: "Missing, unknown, revoked or expired API key",
    403: "The API key lacks vault:use",
    404: "No credential of this identity has that name",
    409: "needs_reauth: the provider refused the refresh token; a person must connect again",
    410: "The credential has expired (expired)",
    422: "Validation failed; the message names the field",
    429: "Rate limited",
    500: "Internal error (never with a secret)",
    502: "bad_gateway (oauth_refused): the token endpoint refused the client",
    503: "unavailable: the provider did not answer and no valid token is left (Retry-After)",
}
_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def _errors() -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(data_container=ErrorBody, description=text)
        for status, text in _ERROR_TEXT.items()
    }


@post(
    "/v0/vault/{name:str}/oauth/refresh",
    summary="Refresh an OAUTH credential's access token now",
    description="Forces a refresh through the provider's token endpoint, one at a time per "
    "credential across servers. Answers the token's state, never a token (vault:use).",
    responses=_errors(),
    security=_SECURITY,
    status_code=200,
)
async def oauth_refresh(request: Request[Any, Any, Any], name: NameParam) -> OAuthState:
    return await _vault(request).service.oauth_refresh(principal(request), name)


@get(
    "/v0/vault/{name:str}/oauth",
    summary="The state of an OAUTH credential's access token (no refresh, no token)",
    responses=_errors(),
    security=_SECURITY,
)
async def oauth_status(request: Request[Any, Any, Any], name: NameParam) -> OAuthState:
    return await _vault(request).service.oauth_status(principal(request), name)


@post(
    "/v0/vault/{name:str}/oauth/connect",
    summary="Start the connect flow: the provider's authorization URL for a person",
    description="Authorization code with PKCE (S256) and a single-use state bound to this "
    "identity and credential, valid 10 minutes. The provider calls back "
    f"{CALLBACK_PATH} on the server's public URL, which stores the tokens (vault:write).",
    responses=_errors(),
    security=_SECURITY,
    status_code=200,
)
async def oauth_connect(
    request: Request[Any, Any, Any],
    name: NameParam,
    data: Annotated[ConnectRequest, Body(description="Client settings, or {} to reuse stored")],
) -> ConnectStarted:
    return await _vault(request).oauth_connect.start(principal(request), name, data)


_PAGE = (
    "<!doctype html><html lang=en><head><meta charset=utf-8><title>Loomal Vault</title>"
    "</head><body><main><h1>{title}</h1><p>{text}</p></main></body></html>"
)


@get(
    CALLBACK_PATH,
    summary="The connect flow's callback (the provider redirects a browser here)",
    description="Exchanges the code, stores the tokens in the credential the flow was "
    "started for and answers a page for the person. A replayed, foreign or expired state "
    "is refused (400 bad_state, state_expired).",
    responses=_errors(),
)
async def oauth_callback(
    request: Request[Any, Any, Any],
    oauth_state: Annotated[str, QueryParameter(name="state", max_length=512)],
    code: Annotated[str | None, QueryParameter(name="code", max_length=4096)] = None,
    error: Annotated[str | None, QueryParameter(name="error", max_length=256)] = None,
) -> Response[str]:
    name = await _vault(request).oauth_connect.finish(oauth_state, code, error)
    text = f"The vault now holds the tokens of {name!r}; you can close this window."
    page = _PAGE.format(title="Connected", text=html.escape(text))
    return Response(page, media_type="text/html", headers={"cache-control": "no-store"})


OAUTH_ROUTES = [oauth_refresh, oauth_status, oauth_connect]
OAUTH_CALLBACK = oauth_callback
