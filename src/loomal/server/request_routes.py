"""HTTP routes of ``/v0/requests``: agents ask for the credentials they lack, a
person fulfils or declines. Parse, call
:class:`loomal.core.access_requests.AccessRequestService`, return its model; every
rule (who may ask or answer, the pending limit, once) is the core's.

Declared in ``server/endpoints.py``; the edge authenticates them like the vault routes.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request
from litestar.params import JSONBody, Parameter, QueryParameter
from msgspec.structs import replace

from loomal.core.access_request_models import (
    AccessRequest,
    AccessRequestCreate,
    AccessRequestCreated,
    AccessRequestFulfill,
    AccessRequestList,
)
from loomal.core.access_requests import AccessRequestService
from loomal.core.preconditions import WritePrecondition
from loomal.errors import BadRequestError
from loomal.server.routes import principal

__all__ = ["create_request", "decline_request", "fulfill_request", "get_request", "list_requests"]

RequestIdParam = Annotated[str, Parameter(description="The request's id (req_...)", max_length=200)]


def _requests(request: Request[Any, Any, Any]) -> AccessRequestService:
    requests: AccessRequestService = request.app.state.vault.requests
    return requests


def _absolute(request: Request[Any, Any, Any], url: str) -> str:
    """A relative console URL (no ``--public-url``) on the request's own origin."""
    return str(request.base_url).rstrip("/") + url if url.startswith("/") else url


def _shown(request: Request[Any, Any, Any], asked: AccessRequest) -> AccessRequest:
    return replace(asked, url=_absolute(request, asked.url))


async def create_request(
    request: Request[Any, Any, Any], data: JSONBody[AccessRequestCreate | None] = None
) -> AccessRequestCreated:
    who = await principal(request)
    if data is None:
        raise BadRequestError(
            "The request body must be a JSON object with name, type and reason.",
            reason="malformed_json",
        )
    created = await _requests(request).create(who, data)
    return replace(created, url=_absolute(request, created.url))


async def list_requests(
    request: Request[Any, Any, Any],
    status: Annotated[
        str | None, QueryParameter(description="pending, fulfilled, declined or expired")
    ] = None,
    limit: Annotated[int, QueryParameter(description="At most this many (1..500)")] = 100,
) -> AccessRequestList:
    listed = await _requests(request).list_requests(
        await principal(request), status=status, limit=limit
    )
    return AccessRequestList([_shown(request, r) for r in listed.requests], listed.count)


async def get_request(request: Request[Any, Any, Any], request_id: RequestIdParam) -> AccessRequest:
    asked = await _requests(request).get_request(await principal(request), request_id)
    return _shown(request, asked)


async def fulfill_request(
    request: Request[Any, Any, Any],
    request_id: RequestIdParam,
    data: JSONBody[AccessRequestFulfill | None] = None,
) -> AccessRequest:
    who = await principal(request)
    if data is None:
        raise BadRequestError(
            "The request body must be a JSON object with data.", reason="malformed_json"
        )
    if_match, if_none_match = request.headers.get("if-match"), request.headers.get("if-none-match")
    precondition = (
        None
        if if_match is None and if_none_match is None
        else WritePrecondition.from_headers(if_match, if_none_match)
    )
    done = await _requests(request).fulfill(who, request_id, data, precondition)
    return _shown(request, done)


async def decline_request(
    request: Request[Any, Any, Any], request_id: RequestIdParam
) -> AccessRequest:
    return _shown(request, await _requests(request).decline(await principal(request), request_id))
