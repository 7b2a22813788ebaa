"""HTTP routes of ``/v0``: parse, call the core, return its model. Nothing else.

Every route authenticates through :func:`principal`, and every rule (scope,
name, expiry, validation) is the core's. The error responses each route can
give are declared here so that the generated OpenAPI document tells the truth.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, delete, get, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import JSONBody, Parameter

from loomal.core.models import (
    AuditPage,
    Credential,
    CredentialList,
    ErrorBody,
    IdentityResponse,
    StoreRequest,
    StoreResponse,
    TotpBackupResponse,
    TotpResponse,
)
from loomal.core.preconditions import WritePrecondition
from loomal.core.principals import Principal
from loomal.core.version_models import DeletedList
from loomal.errors import BadRequestError
from loomal.runtime import RunningVault
from loomal.server import edge
from loomal.server.responses import etag

__all__ = ["ROUTES"]

_ERROR_TEXT = {
    400: "bad_request: malformed JSON, a Host header that is not a host name, "
    "or (reason) not_totp / no_backup_codes",
    401: "Missing, unknown, revoked or expired API key",
    403: "The API key lacks the scope this route needs",
    404: "No credential of this identity has that name",
    409: "Conflict (credential_limit)",
    412: "version_conflict: If-Match / If-None-Match did not hold (reason exists, not_found, "
    "changed); nothing was written",
    410: "The credential has expired (expired)",
    413: "Body larger than 64 KiB",
    422: "Validation failed; the message names the field",
    429: "Rate limited",
    500: "Integrity error or internal error (never with a secret)",
}
_COMMON = (400, 401, 403, 404, 422, 429, 500)
_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]

NameParam = Annotated[
    str,
    Parameter(
        description="Credential name: 1-128 of A-Z a-z 0-9 . _ -, not starting with '.'",
        examples=[Example(value="stripe")],
    ),
]


PageSize = Annotated[int, Parameter(ge=1, le=1000, description="Page size")]
OptionalPageSize = Annotated[
    int | None,
    Parameter(ge=1, le=1000, description="Page size; without it, every credential"),
]
PageCursor = Annotated[str | None, Parameter(description="nextCursor of the previous page")]
DeletedParam = Annotated[
    bool, Parameter(description="List deleted credentials that can still be undeleted instead")
]
VersionParam = Annotated[
    int | None, Parameter(ge=1, description="Read this kept version instead of the current one")
]
DestroyParam = Annotated[
    bool, Parameter(description="Remove the credential and every version now (not recoverable)")
]


def _errors(*statuses: int) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(data_container=ErrorBody, description=_ERROR_TEXT[status])
        for status in sorted({*_COMMON, *statuses})
    }


def _vault(request: Request[Any, Any, Any]) -> RunningVault:
    vault: RunningVault = request.app.state.vault
    return vault


async def authenticate(request: Request[Any, Any, Any]) -> None:
    """Runs before the body is read (a ``before_request`` hook, not a guard: Litestar
    copies the handler for every guard call), so an unauthenticated caller gets 401
    whatever it sent, and its body is never parsed. A request the edge has
    authenticated already (a store it handed on) is not authenticated again."""
    known = request.scope.get(edge.PRINCIPAL_SCOPE_KEY)
    request.state.principal = (
        known
        if isinstance(known, Principal)
        else await edge.authenticate(_vault(request), request.scope)
    )


def principal(request: Request[Any, Any, Any]) -> Principal:
    who: Principal = request.state.principal
    return who


@get(
    "/v0/vault",
    summary="List credentials (metadata only)",
    responses=_errors(),
    security=_SECURITY,
)
async def list_credentials(
    request: Request[Any, Any, Any],
    limit: OptionalPageSize = None,
    cursor: PageCursor = None,
    deleted: DeletedParam = False,
) -> CredentialList | DeletedList:
    who = principal(request)
    if deleted:
        return await _vault(request).service.list_deleted(who)
    return await _vault(request).service.list_credentials(who, limit=limit, cursor=cursor)


@get(
    "/v0/vault/{name:str}",
    summary="Get decrypted credential (or a kept version: ?version=N)",
    responses=_errors(410),
    security=_SECURITY,
)
async def get_credential(
    request: Request[Any, Any, Any], name: NameParam, version: VersionParam = None
) -> Response[Credential]:
    who = principal(request)
    service = _vault(request).service
    if version is not None:  # a kept version: its own number as the ETag
        old = await service.get_version(who, name, version)
        return Response(old, headers=etag(old.version))
    got = await service.get_credential(who, name)
    return Response(got, headers=etag(got.version))


@get(
    "/v0/vault/{name:str}/totp",
    summary="Generate TOTP code",
    responses=_errors(400, 410),
    security=_SECURITY,
)
async def totp(request: Request[Any, Any, Any], name: NameParam) -> TotpResponse:
    who = principal(request)
    return await _vault(request).service.totp(who, name)


@post(
    "/v0/vault/{name:str}/totp/backup",
    summary="Consume one TOTP backup code",
    status_code=200,
    responses=_errors(400, 410),
    security=_SECURITY,
)
async def totp_use_backup(request: Request[Any, Any, Any], name: NameParam) -> TotpBackupResponse:
    who = principal(request)
    return await _vault(request).service.totp_use_backup(who, name)


@put(
    "/v0/vault/{name:str}",
    summary="Store/update credential",
    description="200 whether it created or overwrote the credential (the hosted API's "
    'answer, and the only one its official MCP server accepts). If-Match: "<version>" '
    "(the ETag a read or store sent) stores only over that version, If-None-Match: * only "
    "when the name is free; otherwise 412 version_conflict and nothing is written.",
    status_code=200,
    responses=_errors(400, 409, 412, 413),
    security=_SECURITY,
)
async def store_credential(
    request: Request[Any, Any, Any], name: NameParam, data: JSONBody[StoreRequest | None] = None
) -> Response[StoreResponse]:
    who = principal(request)
    if data is None:
        raise BadRequestError(
            "The request body must be a JSON object with type and data.", reason="malformed_json"
        )
    precondition = WritePrecondition.from_headers(
        request.headers.get("if-match"), request.headers.get("if-none-match")
    )
    stored, _ = await _vault(request).service.store_credential(who, name, data, precondition)
    return Response(stored, headers=etag(stored.version))


@delete(
    "/v0/vault/{name:str}",
    summary="Delete credential (recoverable; ?destroy=true removes every version now)",
    responses=_errors(),
    security=_SECURITY,
)
async def delete_credential(
    request: Request[Any, Any, Any], name: NameParam, destroy: DestroyParam = False
) -> None:
    who = principal(request)
    if destroy:
        await _vault(request).service.destroy_credential(who, name)
    else:
        await _vault(request).service.delete_credential(who, name)


@get(
    "/v0/whoami",
    summary="The caller's identity",
    responses=_errors(),
    security=_SECURITY,
)
async def whoami(request: Request[Any, Any, Any]) -> IdentityResponse:
    return await _vault(request).identities.whoami(principal(request))


@get(
    "/v0/audit",
    summary="This identity's audit events, newest first",
    responses=_errors(),
    security=_SECURITY,
)
async def audit_events(
    request: Request[Any, Any, Any],
    limit: PageSize = 100,
    cursor: PageCursor = None,
) -> AuditPage:
    who = principal(request)
    return await _vault(request).service.audit_log(who, limit=limit, cursor=cursor)


ROUTES = [
    audit_events,
    whoami,
    list_credentials,
    get_credential,
    totp,
    totp_use_backup,
    store_credential,
    delete_credential,
]
