"""HTTP routes of OAuth credentials: a forced refresh (``POST
/v0/vault/{name}/oauth/refresh``), for identity keys, and the connect flow's
callback (``GET /v0/oauth/callback``), which a browser reaches from the
provider. Parse, call the service, return its model; every rule is the core's
and ``loomal.oauth``'s."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.openapi.datastructures import ResponseSpec

from loomal.core.models import ErrorBody
from loomal.core.oauth_tokens import OAuthState
from loomal.server.routes import NameParam, _vault, principal

__all__ = ["OAUTH_ROUTES"]

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


OAUTH_ROUTES = [oauth_refresh]
