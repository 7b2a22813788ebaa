"""HTTP routes of ``/v0/platform/identities``: the hosted platform API, for
platform keys (``lopk-...``). Parse, call :class:`loomal.core.platform.PlatformService`,
return its model; every rule is the core's.

Every route authenticates with a platform key before its body is read (an
identity key gets 403 ``platform_key_required``; a missing or unknown key 401).
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Router, delete, get, patch, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, Parameter, QueryParameter

from loomal.core.models import ErrorBody
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
from loomal.server.client_address import client_address
from loomal.server.edge import request_header

__all__ = ["PLATFORM_ROUTER"]

_ERROR_TEXT = {
    400: "bad_request: malformed JSON",
    401: "Missing, unknown or revoked platform key",
    403: "An identity's key (loid-...) on a platform route (platform_key_required)",
    404: "No identity with this id",
    409: "An identity with this name exists (identity_exists)",
    413: "Body larger than 64 KiB",
    422: "Validation failed; the message names the field (an unknown scope, limit, pageToken)",
    429: "Rate limited",
    500: "Internal error",
}
_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]
IdentityIdParam = Annotated[str, Parameter(description="The identity's id (id_...)")]


def _errors(*statuses: int) -> dict[int, ResponseSpec]:
    common = (400, 401, 403, 422, 429, 500)
    return {
        status: ResponseSpec(data_container=ErrorBody, description=_ERROR_TEXT[status])
        for status in sorted({*common, *statuses})
    }


def _platform(request: Request[Any, Any, Any]) -> PlatformService:
    platform: PlatformService = request.app.state.vault.platform
    return platform


async def _authenticate(request: Request[Any, Any, Any]) -> None:
    """A ``before_request`` hook (see server.routes.authenticate for why not a guard)."""
    request.state.platform_principal = await _platform(request).authenticate(
        request_header(request.scope, b"authorization"), client=client_address(request.scope)
    )


def _who(request: Request[Any, Any, Any]) -> PlatformPrincipal:
    who: PlatformPrincipal = request.state.platform_principal
    return who


@post(
    "/identities",
    summary="Create an identity and its API key (shown once)",
    status_code=201,
    responses=_errors(409, 413),
    security=_SECURITY,
)
async def create_identity(
    request: Request[Any, Any, Any], data: JSONBody[CreateIdentityRequest | None] = None
) -> CreateIdentityResponse:
    return await _platform(request).create(_who(request), data or CreateIdentityRequest())


@get(
    "/identities",
    summary="List identities, one page",
    responses=_errors(),
    security=_SECURITY,
)
async def list_identities(
    request: Request[Any, Any, Any],
    limit: Annotated[int | None, QueryParameter(description=f"1-{MAX_PAGE}, default 50")] = None,
    page_token: Annotated[
        str | None,
        QueryParameter(name="pageToken", description="nextPageToken of the previous page"),
    ] = None,
) -> IdentityList:
    return await _platform(request).list_identities(
        _who(request), limit=limit, page_token=page_token
    )


@get(
    "/identities/{identity_id:str}",
    summary="One identity, with its key's prefix",
    responses=_errors(404),
    security=_SECURITY,
)
async def get_identity(
    request: Request[Any, Any, Any], identity_id: IdentityIdParam
) -> IdentityDetail:
    return await _platform(request).get(_who(request), identity_id)


@patch(
    "/identities/{identity_id:str}",
    summary="Rename, add or remove scopes",
    responses=_errors(404, 409, 413),
    security=_SECURITY,
)
async def update_identity(
    request: Request[Any, Any, Any],
    identity_id: IdentityIdParam,
    data: JSONBody[UpdateIdentityRequest | None] = None,
) -> IdentitySummary:
    return await _platform(request).update(
        _who(request), identity_id, data or UpdateIdentityRequest()
    )


@post(
    "/identities/{identity_id:str}/rotate-key",
    summary="A new API key (shown once); the old ones stop",
    status_code=200,
    responses=_errors(404),
    security=_SECURITY,
)
async def rotate_key(
    request: Request[Any, Any, Any], identity_id: IdentityIdParam
) -> RotateKeyResponse:
    return await _platform(request).rotate_key(_who(request), identity_id)


@delete(
    "/identities/{identity_id:str}",
    summary="Delete an identity, its keys and its credentials",
    responses=_errors(404),
    security=_SECURITY,
)
async def delete_identity(request: Request[Any, Any, Any], identity_id: IdentityIdParam) -> None:
    await _platform(request).delete(_who(request), identity_id)


PLATFORM_ROUTER = Router(
    path="/v0/platform",
    route_handlers=[
        create_identity,
        list_identities,
        get_identity,
        update_identity,
        rotate_key,
        delete_identity,
    ],
    before_request=_authenticate,
    tags=["platform"],
)
