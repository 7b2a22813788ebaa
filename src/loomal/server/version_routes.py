"""HTTP routes of a credential's history and of recoverable delete: parse, call
the core (:mod:`loomal.core.versions`), return its model. ``GET /v0/vault?deleted=true``,
``GET /v0/vault/{name}?version=N`` and ``DELETE /v0/vault/{name}?destroy=true``
are parameters of the plain routes in :mod:`loomal.server.routes`."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response
from litestar.params import Parameter, QueryParameter

from loomal.core.models import StoreResponse
from loomal.core.version_models import VersionList
from loomal.runtime import RunningVault
from loomal.server.responses import etag
from loomal.server.routes import NameParam, principal

__all__ = ["list_versions", "restore_version", "undelete"]

VersionNumber = Annotated[int, Parameter(ge=1, description="A kept version's number")]
AsName = Annotated[
    str | None,
    QueryParameter(name="as", description="Undelete under this name instead"),
]


def _vault(request: Request[Any, Any, Any]) -> RunningVault:
    vault: RunningVault = request.app.state.vault
    return vault


async def list_versions(request: Request[Any, Any, Any], name: NameParam) -> VersionList:
    return await _vault(request).service.list_versions(await principal(request), name)


async def restore_version(
    request: Request[Any, Any, Any], name: NameParam, version: VersionNumber
) -> Response[StoreResponse]:
    who = await principal(request)
    restored = await _vault(request).service.restore_version(who, name, version)
    return Response(restored, headers=etag(restored.version))


async def undelete(
    request: Request[Any, Any, Any], name: NameParam, as_name: AsName = None
) -> Response[StoreResponse]:
    who = await principal(request)
    back = await _vault(request).service.undelete_credential(who, name, as_name)
    return Response(back, headers=etag(back.version))
