"""The two calls agents make most, served without the framework's per-request
machinery: ``GET /v0/vault/{name}`` and ``GET /v0/vault/{name}/totp``.

Why: measured on this project's 2-core machine, the TOTP use case served 30k
requests/s behind a plain ASGI path and 15.6k through a Litestar route (same
service, store, crypto and server; see docs/benchmarks.md). Litestar's
signature parsing, hooks and response objects cost half the throughput.

What it is not: a second implementation. It authenticates with the same
IdentityService call, runs the same VaultService method, encodes the same
model, and answers errors through the same mapping and headers
(``server.responses``). The routes stay declared in ``routes.py`` (OpenAPI, and
Litestar serves everything this path does not match: other methods, trailing
slashes, names with a ``/``). The whole API test suite runs through it.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar
from litestar.enums import ScopeType
from litestar.types import Receive, Scope, Send

from loomal.runtime import Vault
from loomal.server.cors import Cors
from loomal.server.responses import send_error, send_json

__all__ = ["HotReads"]

_PREFIX = "/v0/vault/"
_TOTP = "/totp"
_encode = msgspec.json.Encoder().encode


class HotReads:
    """ASGI app: the hot GET routes, else the wrapped Litestar app."""

    def __init__(self, app: Litestar, *, cors_origins: tuple[str, ...] = ()) -> None:
        self.app = app
        self._cors = Cors(self._dispatch, cors_origins) if cors_origins else None

    def __getattr__(self, name: str) -> Any:  # tests and tools reach app.state, openapi_schema
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._cors is None:
            await self._dispatch(scope, receive, send)
        else:
            await self._cors(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and scope["method"] == "GET":
            path: str = scope["path"]
            vault: Vault | None = getattr(self.app.state, "vault", None)
            if path.startswith(_PREFIX) and vault is not None:
                rest = path[len(_PREFIX) :]
                totp = rest.endswith(_TOTP)
                name = rest[: -len(_TOTP)] if totp else rest
                if name and "/" not in name:
                    await self._serve(vault, scope, send, name, totp=totp)
                    return
        await self.app(scope, receive, send)

    async def _serve(
        self, vault: Vault, scope: Scope, send: Send, name: str, *, totp: bool
    ) -> None:
        authorization = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                authorization = value.decode("latin-1")
                break
        client = scope.get("client") or ("", 0)
        try:
            who = await vault.identities.authenticate(authorization, client=client[0])
            result: Any = (
                await vault.service.totp(who, name)
                if totp
                else await vault.service.get_credential(who, name)
            )
        except Exception as exc:
            await send_error(send, exc)
            return
        await send_json(send, 200, _encode(result))
