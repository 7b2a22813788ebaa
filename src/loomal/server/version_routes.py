"""HTTP routes of a credential's history and of recoverable delete: parse, call
the core (:mod:`loomal.core.versions`), return its model. ``GET /v0/vault?deleted=true``,
``GET /v0/vault/{name}?version=N`` and ``DELETE /v0/vault/{name}?destroy=true``
are parameters of the plain routes in :mod:`loomal.server.routes`."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter, QueryParameter

from loomal.core.models import ErrorBody, StoreResponse
from loomal.core.version_models import VersionList
from loomal.runtime import RunningVault
from loomal.server.responses import etag
from loomal.server.routes import NameParam, principal

__all__ = ["VERSION_ROUTES"]

_ERROR_TEXT = {
    400: "bad_request: a Host header that is not a host name",
    401: "Missing, unknown, revoked or expired API key",
    403: "The API key lacks the scope this route needs",
    404: "No such credential, kept version (no_such_version) or recoverable deletion",
    409: "name_in_use: a credential holds the name now (undelete with ?as=OTHER); credential_limit",
    422: "Validation failed; the message names the field",
    429: "Rate limited",
    500: "Integrity error or internal error (never with a secret)",
}
_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]
VersionNumber = Annotated[int, Parameter(ge=1, description="A kept version's number")]
AsName = Annotated[
    str | None,
    QueryParameter(name="as", description="Undelete under this name instead"),
]


def _errors(*statuses: int) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(data_container=ErrorBody, description=_ERROR_TEXT[status])
        for status in sorted({400, 401, 403, 404, 422, 429, 500, *statuses})
    }


def _vault(request: Request[Any, Any, Any]) -> RunningVault:
    vault: RunningVault = request.app.state.vault
    return vault


@get(
    "/v0/vault/{name:str}/versions",
    summary="A credential's kept versions, newest first (never a secret)",
    responses=_errors(),
    security=_SECURITY,
)
async def list_versions(request: Request[Any, Any, Any], name: NameParam) -> VersionList:
    return await _vault(request).service.list_versions(principal(request), name)


@post(
    "/v0/vault/{name:str}/versions/{version:int}/restore",
    summary="Make a kept version current again, as a new version",
    status_code=200,
    responses=_errors(),
    security=_SECURITY,
)
async def restore_version(
    request: Request[Any, Any, Any], name: NameParam, version: VersionNumber
) -> Response[StoreResponse]:
    restored = await _vault(request).service.restore_version(principal(request), name, version)
    return Response(restored, headers=etag(restored.version))


@post(
    "/v0/vault/{name:str}/undelete",
    summary="Bring back a deleted credential (its latest version)",
    status_code=200,
    responses=_errors(409),
    security=_SECURITY,
)
async def undelete(
    request: Request[Any, Any, Any], name: NameParam, as_name: AsName = None
) -> Response[StoreResponse]:
    back = await _vault(request).service.undelete_credential(principal(request), name, as_name)
    return Response(back, headers=etag(back.version))


VERSION_ROUTES = [list_versions, restore_version, undelete]
