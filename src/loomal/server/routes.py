"""Handlers of ``/v0``'s vault routes: parse, call the core, return its model.
Nothing else: each is declared (method, path, OpenAPI entry) once, in
``server/endpoints.py``, and every rule (scope, name, expiry, validation) is the
core's.

Two kinds: ``fast_*`` handlers take a :class:`~loomal.server.calls.FastCall`
and give an :class:`~loomal.server.calls.Answer` the edge writes itself (the
calls agents make most); the others are Litestar handlers (their signature
declares the query and body they parse), for whatever is not fast.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response
from litestar.openapi.spec import Example
from litestar.params import JSONBody, Parameter

from loomal.core.models import (
    AuditPage,
    Credential,
    CredentialList,
    IdentityResponse,
    StoreRequest,
    StoreResponse,
    TotpBackupResponse,
)
from loomal.core.preconditions import WritePrecondition
from loomal.core.principals import Principal
from loomal.core.version_models import DeletedList
from loomal.errors import BadRequestError, ValidationError
from loomal.runtime import RunningVault
from loomal.server.calls import Answer, FastCall, identity_caller
from loomal.server.request_body import request_header
from loomal.server.responses import etag

__all__ = [
    "NameParam",
    "audit_events",
    "delete_credential",
    "fast_get_credential",
    "fast_store_credential",
    "fast_totp",
    "get_credential",
    "list_credentials",
    "principal",
    "store_credential",
    "totp_use_backup",
    "whoami",
]

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

_encode = msgspec.json.Encoder().encode
_store_decoder = msgspec.json.Decoder(StoreRequest)


def _vault(request: Request[Any, Any, Any]) -> RunningVault:
    vault: RunningVault = request.app.state.vault
    return vault


async def principal(request: Request[Any, Any, Any]) -> Principal:
    return await identity_caller(_vault(request), request.scope)


def reveal_headers(scope: Any) -> tuple[str | None, str | None]:
    """``Loomal-Approval`` and ``Loomal-Reason`` of a read (for a credential marked
    ``reveal: "approval"``; the service looks at them only for such a one)."""
    approval_id = reason = None
    for key, value in scope["headers"]:
        if key == b"loomal-approval":
            approval_id = value.decode("latin-1").strip() or None
        elif key == b"loomal-reason":
            try:
                reason = value.decode("utf-8")
            except UnicodeDecodeError:
                raise ValidationError("The Loomal-Reason header must be UTF-8 text.") from None
    return approval_id, reason


async def fast_get_credential(call: FastCall) -> Answer | None:
    """The current version; None hands ``?version=N`` (any query) to :func:`get_credential`."""
    if call.scope.get("query_string"):
        return None
    approval_id, reason = reveal_headers(call.scope)
    got = await call.vault.service.get_credential(
        call.identity, call.params["name"], approval_id=approval_id, reason=reason
    )
    return Answer(200, _encode(got), etag(got.version))


async def fast_totp(call: FastCall) -> Answer:
    approval_id, reason = reveal_headers(call.scope)
    code = await call.vault.service.totp(
        call.identity, call.params["name"], approval_id=approval_id, reason=reason
    )
    return Answer(200, _encode(code))


def _decode_store(body: bytes) -> StoreRequest | None:
    """A store's body, decoded strictly; None when it is not a plain, valid one (the
    Litestar handler then answers with its own error; what strict decoding
    accepts, the handler's decoding accepts alike)."""
    try:
        return _store_decoder.decode(body)
    except msgspec.ValidationError as error:
        _refuse_infinite_number(str(error))
        return None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None


_OUT_OF_RANGE = "Number out of range - at `$."


def _refuse_infinite_number(problem: str) -> None:
    """A number JSON allows but no 64-bit float holds (``1e400``), in ``data`` or
    ``metadata``: a 422 that names the field. Storing it "as given" would store
    infinity, which JSON cannot write back; the SPEC's 422 says which field."""
    if problem.startswith(_OUT_OF_RANGE):
        field = problem[len(_OUT_OF_RANGE) :].split("[", 1)[0].rstrip("`")
        raise ValidationError(
            f"{field}: a number is out of range (JSON numbers here must fit a 64-bit "
            "float; store a larger one as a string)."
        )


async def fast_store_credential(call: FastCall) -> Answer | None:
    """A plain, well-formed store; None hands anything else to
    :func:`store_credential` (same errors, same messages)."""
    request = _decode_store(call.body or b"")
    if request is None:
        return None
    precondition = WritePrecondition.from_headers(
        request_header(call.scope, b"if-match"), request_header(call.scope, b"if-none-match")
    )
    stored, _ = await call.vault.service.store_credential(
        call.identity, call.params["name"], request, precondition
    )
    return Answer(200, _encode(stored), etag(stored.version))


async def list_credentials(
    request: Request[Any, Any, Any],
    limit: OptionalPageSize = None,
    cursor: PageCursor = None,
    deleted: DeletedParam = False,
) -> CredentialList | DeletedList:
    who = await principal(request)
    if deleted:
        return await _vault(request).service.list_deleted(who)
    return await _vault(request).service.list_credentials(who, limit=limit, cursor=cursor)


async def get_credential(
    request: Request[Any, Any, Any], name: NameParam, version: VersionParam = None
) -> Response[Credential]:
    """A read with a query (``?version=N``: a kept version, its own number as the
    ETag); the plain read is :func:`fast_get_credential`."""
    who = await principal(request)
    service = _vault(request).service
    approval_id, reason = reveal_headers(request.scope)
    if version is not None:
        old = await service.get_version(who, name, version, approval_id=approval_id, reason=reason)
        return Response(old, headers=etag(old.version))
    got = await service.get_credential(who, name, approval_id=approval_id, reason=reason)
    return Response(got, headers=etag(got.version))


async def totp_use_backup(request: Request[Any, Any, Any], name: NameParam) -> TotpBackupResponse:
    who = await principal(request)
    return await _vault(request).service.totp_use_backup(who, name)


async def store_credential(
    request: Request[Any, Any, Any], name: NameParam, data: JSONBody[StoreRequest | None] = None
) -> Response[StoreResponse]:
    who = await principal(request)
    if data is None:
        raise BadRequestError(
            "The request body must be a JSON object with type and data.", reason="malformed_json"
        )
    precondition = WritePrecondition.from_headers(
        request.headers.get("if-match"), request.headers.get("if-none-match")
    )
    stored, _ = await _vault(request).service.store_credential(who, name, data, precondition)
    return Response(stored, headers=etag(stored.version))


async def delete_credential(
    request: Request[Any, Any, Any], name: NameParam, destroy: DestroyParam = False
) -> None:
    who = await principal(request)
    if destroy:
        await _vault(request).service.destroy_credential(who, name)
    else:
        await _vault(request).service.delete_credential(who, name)


async def whoami(request: Request[Any, Any, Any]) -> IdentityResponse:
    return await _vault(request).identities.whoami(await principal(request))


async def audit_events(
    request: Request[Any, Any, Any],
    limit: PageSize = 100,
    cursor: PageCursor = None,
) -> AuditPage:
    who = await principal(request)
    return await _vault(request).service.audit_log(who, limit=limit, cursor=cursor)
