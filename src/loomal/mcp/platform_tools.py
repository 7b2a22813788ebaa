"""The platform's MCP tools, served instead of the vault's when the key is a
platform key (``lopk-``), with the official server's names and arguments:
``identities_list``, ``identities_get``, ``identities_create``,
``identities_update``, ``identities_delete``, ``identities_rotate_key``,
``identities_update_scopes``. Every platform key may call every one of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from loomal.core.platform_models import (
    CreateIdentityRequest,
    CreateIdentityResponse,
    IdentityDeleted,
    IdentityDetail,
    IdentityList,
    IdentitySummary,
    RotateKeyResponse,
    UpdateIdentityRequest,
)
from loomal.mcp.backends import PlatformBackend
from loomal.mcp.names import ToolNameMode
from loomal.mcp.toolkit import Sentences, ToolSpec, build_server, guarded, reads

__all__ = ["PLATFORM_TOOLS", "PlatformBackendFor", "build_platform_mcp_server"]

PlatformBackendFor = Callable[[Context], Awaitable[PlatformBackend]]

IdentityId = Annotated[str, Field(description="Identity ID", min_length=1, max_length=200)]
Scopes = Annotated[
    list[str] | None,
    Field(description="Scopes: vault:read (secrets), vault:write, vault:use (use without reading)"),
]


def _changes(*, destructive: bool, idempotent: bool) -> ToolAnnotations:
    return ToolAnnotations(
        read_only_hint=False,
        destructive_hint=destructive,
        idempotent_hint=idempotent,
        open_world_hint=False,
    )


PLATFORM_TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec("identities.list", "Identities · List", IdentityList, reads(), None),
    ToolSpec("identities.get", "Identities · Get", IdentityDetail, reads(), None),
    ToolSpec(
        "identities.create",
        "Identities · Create",
        CreateIdentityResponse,
        _changes(destructive=False, idempotent=False),
        None,
    ),
    ToolSpec(
        "identities.update",
        "Identities · Update",
        IdentitySummary,
        _changes(destructive=False, idempotent=True),
        None,
    ),
    ToolSpec(
        "identities.delete",
        "Identities · Delete",
        IdentityDeleted,
        _changes(destructive=True, idempotent=True),
        None,
    ),
    ToolSpec(
        "identities.rotate_key",
        "Identities · Rotate Key",
        RotateKeyResponse,
        # The old key stops working, and a second call replaces the first new key.
        _changes(destructive=True, idempotent=False),
        None,
    ),
    ToolSpec(
        "identities.update_scopes",
        "Identities · Update Scopes",
        IdentitySummary,
        _changes(destructive=False, idempotent=True),
        None,
    ),
)
"""Every platform tool, in listing order (the official server's)."""

_INSTRUCTIONS: Sentences = (
    (
        "This platform key provisions the vault's identities (agents); it never reads a "
        "credential. {identities_create} makes one and returns its API key (rawKey) once: "
        "hand it to the agent, which uses it with the vault's own tools. "
        "{identities_rotate_key} replaces a key; {identities_delete} removes an identity "
        "with its keys and credentials.",
        (),
    ),
)


def build_platform_mcp_server(
    backend_for: PlatformBackendFor, tool_names: ToolNameMode = "underscore"
) -> MCPServer[Any]:
    """An MCPServer of the platform tools, reaching the platform API through ``backend_for``."""

    async def call(
        ctx: Context, action: Callable[[PlatformBackend], Awaitable[Any]]
    ) -> CallToolResult:
        async def run() -> Any:
            return await action(await backend_for(ctx))

        return await guarded(run)

    async def identities_list(
        ctx: Context,
        limit: Annotated[
            int | None, Field(ge=1, le=100, description="Max results (default 50, max 100)")
        ] = None,
        pageToken: Annotated[  # the official tool has no paging argument; this adds one
            str | None, Field(description="nextPageToken of the previous page")
        ] = None,
    ) -> CallToolResult:
        """List the identities (agents) of this vault: id, name, scopes, usage. When the
        answer has nextPageToken, pass it as pageToken for the next page."""
        return await call(ctx, lambda b: b.list(limit, pageToken))

    async def identities_get(identityId: IdentityId, ctx: Context) -> CallToolResult:
        """Get one identity, with the prefix of its API key."""
        return await call(ctx, lambda b: b.get(identityId))

    async def identities_create(
        ctx: Context,
        purpose: Annotated[
            Literal["BUYER", "SELLER"] | None,
            Field(description="BUYER (the default) or SELLER; stored, nothing depends on it here"),
        ] = None,
        name: Annotated[
            str | None,
            Field(description="Display name; if omitted, a fresh readable slug is used"),
        ] = None,
        emailName: Annotated[  # the official tool's argument
            str | None, Field(description="Accepted and ignored: this vault has no mail")
        ] = None,
        scopes: Scopes = None,
    ) -> CallToolResult:
        """Create an identity (an agent) with its API key, returned once as rawKey: pass it
        to the agent now, it cannot be shown again. Every argument is optional (call with
        {{}}): the default scopes are vault:read and vault:write."""
        request = CreateIdentityRequest(
            name=name, scopes=scopes, purpose=purpose, email_name=emailName
        )
        return await call(ctx, lambda b: b.create(request))

    async def identities_update(
        identityId: IdentityId,
        name: Annotated[str, Field(min_length=1, description="New display name")],
        ctx: Context,
    ) -> CallToolResult:
        """Rename an identity. For scope changes, use {identities_update_scopes}."""
        return await call(ctx, lambda b: b.update(identityId, UpdateIdentityRequest(name=name)))

    async def identities_delete(identityId: IdentityId, ctx: Context) -> CallToolResult:
        """Delete an identity for good, with its API keys and all its credentials (their
        secrets cannot be recovered). Its audit trail stays."""

        async def delete(backend: PlatformBackend) -> IdentityDeleted:
            await backend.delete(identityId)
            return IdentityDeleted(identity_id=identityId, deleted=True)

        return await call(ctx, delete)

    async def identities_rotate_key(identityId: IdentityId, ctx: Context) -> CallToolResult:
        """Give an identity a new API key (rawKey, returned once); its old key stops
        working."""
        return await call(ctx, lambda b: b.rotate_key(identityId))

    async def identities_update_scopes(
        identityId: IdentityId,
        ctx: Context,
        addScopes: Scopes = None,
        removeScopes: Scopes = None,
    ) -> CallToolResult:
        """Add or remove scopes of an identity's keys."""
        request = UpdateIdentityRequest(add_scopes=addScopes, remove_scopes=removeScopes)
        return await call(ctx, lambda b: b.update(identityId, request))

    functions: dict[str, Callable[..., Any]] = {
        "identities.list": identities_list,
        "identities.get": identities_get,
        "identities.create": identities_create,
        "identities.update": identities_update,
        "identities.delete": identities_delete,
        "identities.rotate_key": identities_rotate_key,
        "identities.update_scopes": identities_update_scopes,
    }
    return build_server(
        name="loomal-platform",
        specs=PLATFORM_TOOLS,
        functions=functions,
        tool_names=tool_names,
        instructions=_INSTRUCTIONS,
        scopes_for=None,
    )
