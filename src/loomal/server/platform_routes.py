"""Handlers of ``/v0/platform/identities``: the hosted platform API, for platform
keys (``lopk-...``). Parse, call :class:`loomal.core.platform.PlatformService`,
return its model; every rule is the core's. Each is declared (method, path,
OpenAPI entry) once, in ``server/endpoints.py``.

The edge authenticates every one with a platform key before its body is read (an
identity key gets 403 ``platform_key_required``; a missing or unknown key 401).
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request
from litestar.params import JSONBody, Parameter, QueryParameter

from loomal.core.platform import MAX_PAGE, PlatformPrincipal, PlatformService
from loomal.core.platform_models import (
    CreateIdentityRequest,
    CreateIdentityResponse,
    IdentityDetail,
    IdentityList,
    IdentitySummary,
    RotateKeyResponse,
    UpdateIdentityRequest,
)
from loomal.server.calls import platform_caller

__all__ = [
    "create_identity",
    "delete_identity",
    "get_identity",
    "list_identities",
    "rotate_key",
    "update_identity",
]

IdentityIdParam = Annotated[str, Parameter(description="The identity's id (id_...)")]


def _platform(request: Request[Any, Any, Any]) -> PlatformService:
    platform: PlatformService = request.app.state.vault.platform
    return platform


async def _who(request: Request[Any, Any, Any]) -> PlatformPrincipal:
    return await platform_caller(request.app.state.vault, request.scope)


async def create_identity(
    request: Request[Any, Any, Any], data: JSONBody[CreateIdentityRequest | None] = None
) -> CreateIdentityResponse:
    return await _platform(request).create(await _who(request), data or CreateIdentityRequest())


async def list_identities(
    request: Request[Any, Any, Any],
    limit: Annotated[int | None, QueryParameter(description=f"1-{MAX_PAGE}, default 50")] = None,
    page_token: Annotated[
        str | None,
        QueryParameter(name="pageToken", description="nextPageToken of the previous page"),
    ] = None,
) -> IdentityList:
    return await _platform(request).list_identities(
        await _who(request), limit=limit, page_token=page_token
    )


async def get_identity(
    request: Request[Any, Any, Any], identity_id: IdentityIdParam
) -> IdentityDetail:
    return await _platform(request).get(await _who(request), identity_id)


async def update_identity(
    request: Request[Any, Any, Any],
    identity_id: IdentityIdParam,
    data: JSONBody[UpdateIdentityRequest | None] = None,
) -> IdentitySummary:
    return await _platform(request).update(
        await _who(request), identity_id, data or UpdateIdentityRequest()
    )


async def rotate_key(
    request: Request[Any, Any, Any], identity_id: IdentityIdParam
) -> RotateKeyResponse:
    return await _platform(request).rotate_key(await _who(request), identity_id)


async def delete_identity(request: Request[Any, Any, Any], identity_id: IdentityIdParam) -> None:
    await _platform(request).delete(await _who(request), identity_id)
