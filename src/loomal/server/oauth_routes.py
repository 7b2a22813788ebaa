"""HTTP routes of OAuth credentials: a forced refresh (``POST
/v0/vault/{name}/oauth/refresh``), for identity keys, and the connect flow's
callback (``GET /v0/oauth/callback``), which a browser reaches from the
provider. Parse, call the service, return its model; every rule is the core's
and ``loomal.oauth``'s."""

from __future__ import annotations

import html
from typing import Annotated, Any

from litestar import Request, Response
from litestar.params import Body, QueryParameter

from loomal.core.models import ConnectRequest, ConnectStarted, OAuthState
from loomal.server.routes import NameParam, _vault, principal

__all__ = ["oauth_callback", "oauth_connect", "oauth_refresh", "oauth_status"]


async def oauth_refresh(request: Request[Any, Any, Any], name: NameParam) -> OAuthState:
    return await _vault(request).service.oauth_refresh(await principal(request), name)


async def oauth_status(request: Request[Any, Any, Any], name: NameParam) -> OAuthState:
    return await _vault(request).service.oauth_status(await principal(request), name)


async def oauth_connect(
    request: Request[Any, Any, Any],
    name: NameParam,
    data: Annotated[ConnectRequest, Body(description="Client settings, or {} to reuse stored")],
) -> ConnectStarted:
    return await _vault(request).oauth_connect.start(await principal(request), name, data)


_PAGE = (
    "<!doctype html><html lang=en><head><meta charset=utf-8><title>Loomal Vault</title>"
    "</head><body><main><h1>{title}</h1><p>{text}</p></main></body></html>"
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
