"""The OpenAPI document, generated from the endpoint table.

Litestar writes the schemas (from the msgspec types) for a throwaway app built
only to describe the table: a route entry brings its handler's signature (query,
body, answer), a fast or raw entry a declaration made here from its template and
``response`` type. That app never serves a request; the served app holds only the
handlers that run.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec
from litestar import Litestar
from litestar.enums import HttpMethod
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Components, SecurityScheme
from litestar.params import Parameter

from loomal import __version__
from loomal.core.models import ErrorBody
from loomal.server.endpoints import Endpoint

__all__ = ["litestar_handler", "litestar_path", "openapi_document"]

_ANY_METHOD = ("GET", "POST", "PUT", "PATCH", "DELETE")
_PARAM_TEXT = {
    "name": "Credential name: 1-128 of A-Z a-z 0-9 . _ -, not starting with '.'",
    "path": "The path under the credential's baseUrl",
    "identity_id": "The identity's id (id_...)",
}


def litestar_path(template: str) -> str:
    """``/v0/vault/{name}`` in Litestar's spelling (``{name:str}``, ``{path:path}``)."""
    parts = []
    for part in template.split("/"):
        if part.endswith("...}"):
            part = "{" + part.strip("{}.") + ":path}"
        elif part.startswith("{"):
            part = part[:-1] + ":str}"
        parts.append(part)
    return "/".join(parts)


def _responses(endpoint: Endpoint) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(
            data_container=endpoint.bodies.get(status, ErrorBody), description=text
        )
        for status, text in sorted(endpoint.errors.items())
    }


def _methods(endpoint: Endpoint) -> list[HttpMethod]:
    methods = _ANY_METHOD if endpoint.method == "*" else (endpoint.method,)
    return [HttpMethod(method) for method in methods]


def _description(endpoint: Endpoint) -> str | None:
    needs = f"Needs the {endpoint.scope} scope." if endpoint.scope else None
    text = " ".join(part for part in (endpoint.description, needs) if part)
    return text or None


def litestar_handler(
    endpoint: Endpoint, fn: Callable[..., Awaitable[Any]] | None = None
) -> HTTPRouteHandler:
    """The Litestar handler of a table entry (``fn``: its function, else the route's)."""
    keyed = endpoint.auth in ("identity", "platform", "own")
    handler = fn or endpoint.route
    assert handler is not None
    return HTTPRouteHandler(
        path=litestar_path(endpoint.path),
        http_method=_methods(endpoint),
        summary=endpoint.summary,
        description=_description(endpoint),
        status_code=endpoint.status,
        responses=_responses(endpoint),
        security=[{"bearerAuth": []}] if keyed else None,
        request_max_body_size=endpoint.body_limit,
        tags=list(endpoint.tags) or None,
    )(handler)


def _declared_name(endpoint: Endpoint) -> str:
    served = endpoint.fast or endpoint.raw
    name = served.__name__ if served is not None else "endpoint"
    name = name.removeprefix("fast_").strip("_")
    return f"{name}_head" if endpoint.method == "HEAD" else name


def _declaration(endpoint: Endpoint) -> Callable[..., Awaitable[Any]]:
    """A function with the signature a fast or raw entry would have as a Litestar
    handler: its path parameters and its answer's type; only described, never run."""
    names = [p.strip("{}.") for p in endpoint.path.split("/") if p.startswith("{")]
    params = [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[str, Parameter(description=_PARAM_TEXT.get(name, name))],
        )
        for name in names
    ]
    answer: Any = None if endpoint.method == "HEAD" else (endpoint.response or bytes)

    async def declared(**_: Any) -> Any:
        raise NotImplementedError  # described only

    declared.__signature__ = inspect.Signature(params, return_annotation=answer)  # type: ignore[attr-defined]
    declared.__annotations__ = {p.name: p.annotation for p in params} | {"return": answer}
    declared.__name__ = declared.__qualname__ = _declared_name(endpoint)
    return declared


def openapi_document(endpoints: tuple[Endpoint, ...]) -> bytes:
    """The JSON document describing every documented entry of the table."""
    handlers = [
        litestar_handler(e, None if e.route is not None else _declaration(e))
        for e in endpoints
        if e.documented
    ]
    app = Litestar(route_handlers=handlers, openapi_config=_config(), logging_config=None)
    return msgspec.json.encode(app.openapi_schema.to_schema())


def _config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Loomal Vault",
        version=__version__,
        description="Encrypted credential vault for AI agents.",
        create_examples=False,
        components=Components(
            security_schemes={
                "bearerAuth": SecurityScheme(
                    type="http", scheme="bearer", description="Authorization: Bearer loid-..."
                )
            }
        ),
    )
