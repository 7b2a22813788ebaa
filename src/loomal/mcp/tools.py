"""The six vault tools, named as the seed names them, for any MCP client.

Each tool is a typed function (its docstring is the description the model
reads); its output schema is generated from the same msgspec model the HTTP
API returns. Results are structured content plus the same JSON as text (for
clients that show models text only). Errors come back as tool errors
``"<code>: <message>"`` with the SPEC's codes; no secret is ever in one.

All six tools are always listed; a key without the scope a tool needs gets an
``insufficient_scope`` tool error, exactly as over HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec
import pydantic
from mcp.server.context import LifespanContextT, RequestT
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from loomal import __version__
from loomal.core.models import (
    Credential,
    CredentialList,
    DeleteResult,
    StoreRequest,
    StoreResponse,
    TotpBackupResponse,
    TotpResponse,
)
from loomal.core.types import CredentialType
from loomal.errors import LoomalError, ServerError
from loomal.mcp.backends import VaultBackend

__all__ = ["BackendFor", "build_mcp_server"]

log = logging.getLogger("loomal.mcp")

BackendFor = Callable[[Context], Awaitable[VaultBackend]]
"""Resolves the backend for one tool call (and authenticates it, over HTTP)."""

Name = Annotated[
    str,
    Field(
        description="Credential name: 1-128 of A-Z a-z 0-9 . _ -, not starting with '.'",
        min_length=1,
        max_length=128,
    ),
]

_INSTRUCTIONS = (
    "Loomal Vault holds the credentials this agent may use. Call vault.list to see what "
    "exists (no secrets), vault.get for a credential's secret data, vault.totp for a live "
    "2FA code. Consume a backup code only with vault.totp_use_backup, never by editing "
    "backupCodes through vault.store."
)


def output_schema(model: type[Any]) -> dict[str, Any]:
    """The JSON Schema msgspec derives from a wire model, rooted at the model itself."""
    (ref,), defs = msgspec.json.schema_components([model], ref_template="#/$defs/{name}")
    root: dict[str, Any] = dict(defs.pop(ref["$ref"].rsplit("/", 1)[1]))
    if defs:
        root["$defs"] = defs
    return root


class _VaultTool(Tool):
    """A tool whose argument errors never quote an argument.

    pydantic's message for a failed argument includes the input (for a missing
    field, every argument: the secret ``data`` too). Arguments are checked here
    first and reported as ``validation_error: <field>: <rule>`` only.
    """

    async def run(
        self,
        arguments: dict[str, Any],
        context: Context[LifespanContextT, RequestT],
        convert_result: bool = False,
    ) -> Any:
        try:
            self.fn_metadata.validate_arguments(arguments)
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or 'arguments'}: {error['msg']}"
                for error in exc.errors(include_input=False, include_url=False)
            )
            raise ToolError(f"validation_error: {problems}") from None
        return await super().run(arguments, context, convert_result)


def _result(value: Any) -> CallToolResult:
    structured = msgspec.to_builtins(value)
    text = msgspec.json.encode(structured).decode()
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=structured
    )


def _error(error: LoomalError) -> CallToolResult:
    code = f"{error.code} ({error.reason})" if error.reason else error.code
    return CallToolResult(
        content=[TextContent(type="text", text=f"{code}: {error.message}")], is_error=True
    )


def build_mcp_server(backend_for: BackendFor) -> MCPServer[Any]:
    """An MCPServer whose tools reach the vault through ``backend_for``."""

    async def call(
        ctx: Context, action: Callable[[VaultBackend], Awaitable[Any]]
    ) -> CallToolResult:
        try:
            return _result(await action(await backend_for(ctx)))
        except LoomalError as error:
            return _error(error)
        except Exception as exc:  # never a traceback or an exception's text to the model
            log.error("MCP tool failed with %s", type(exc).__name__)
            return _error(ServerError())

    async def vault_list(
        ctx: Context,
        limit: Annotated[int, Field(ge=1, le=1000, description="Page size")] = 100,
        cursor: Annotated[str | None, Field(description="nextCursor of the previous page")] = None,
    ) -> CallToolResult:
        """List the credentials this agent can use: names, types and metadata only, never
        secret values. Use it to discover what exists before calling vault.get or vault.totp.
        Follow nextCursor to read further pages."""
        return await call(ctx, lambda b: b.list(limit, cursor))

    async def vault_get(name: Name, ctx: Context) -> CallToolResult:
        """Get one credential with its decrypted secret data (e.g. data.key of an API_KEY,
        data.password of a LOGIN). Call it only when the secret is needed now. A TOTP seed
        reads as "[use /v0/vault/:name/totp]" (hasTOTP is true); use vault.totp for a code."""
        return await call(ctx, lambda b: b.get(name))

    async def vault_totp(name: Name, ctx: Context) -> CallToolResult:
        """Generate the current TOTP (2FA) code of a credential that holds a TOTP seed (a TOTP
        credential, or any credential with data.totp), with remaining (seconds it stays valid:
        if only a few remain, wait and call again) and backupCodesRemaining. Never returns
        the seed."""
        return await call(ctx, lambda b: b.totp(name))

    async def vault_totp_use_backup(name: Name, ctx: Context) -> CallToolResult:
        """Consume one single-use backup code of a TOTP credential and return it. Atomic:
        each code is handed out once, even to concurrent agents. This is the only safe way to
        use a backup code; never remove codes by rewriting the credential with vault.store."""
        return await call(ctx, lambda b: b.totp_use_backup(name))

    async def vault_store(
        name: Name,
        type: Annotated[CredentialType, Field(description="Credential type")],  # noqa: A002
        data: Annotated[
            Any,  # checked by the core, whose errors never repeat a value (pydantic's would)
            Field(
                description="Secret fields, encrypted at rest, e.g. {'key': ...} for API_KEY, "
                "{'password': ...} for LOGIN, {'secret': base32, 'backupCodes': [...]} for TOTP; "
                "any fields for CUSTOM",
                json_schema_extra={"type": "object"},
            ),
        ],
        ctx: Context,
        metadata: Annotated[
            dict[str, Any] | None,
            Field(description="Non-secret fields shown in lists (service, username, issuer...)"),
        ] = None,
        expiresAt: Annotated[str | None, Field(description="Expiry, ISO 8601")] = None,
    ) -> CallToolResult:
        """Store a credential, or overwrite the one with this name (its id is kept). Put
        secrets in data and everything else in metadata. Do not use it to consume TOTP backup
        codes: use vault.totp_use_backup."""
        request = StoreRequest(type=type.value, data=data, metadata=metadata, expires_at=expiresAt)
        return await call(ctx, lambda b: b.store(name, request))

    async def vault_delete(name: Name, ctx: Context) -> CallToolResult:
        """Delete a credential permanently."""

        async def delete(backend: VaultBackend) -> DeleteResult:
            await backend.delete(name)
            return DeleteResult(name=name, deleted=True)

        return await call(ctx, delete)

    specs: list[tuple[str, Callable[..., Any], type[Any], ToolAnnotations]] = [
        ("vault.list", vault_list, CredentialList, ToolAnnotations(read_only_hint=True)),
        ("vault.get", vault_get, Credential, ToolAnnotations(read_only_hint=True)),
        ("vault.totp", vault_totp, TotpResponse, ToolAnnotations(read_only_hint=True)),
        (
            "vault.totp_use_backup",
            vault_totp_use_backup,
            TotpBackupResponse,
            ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False),
        ),
        ("vault.store", vault_store, StoreResponse, ToolAnnotations(idempotent_hint=True)),
        ("vault.delete", vault_delete, DeleteResult, ToolAnnotations(destructive_hint=True)),
    ]
    tools = []
    for name, fn, model, hints in specs:
        tool = _VaultTool.from_function(fn, name=name, annotations=hints)
        tool.fn_metadata.output_schema = output_schema(model)
        tools.append(tool)
    return MCPServer(
        name="loomal-vault", version=__version__, instructions=_INSTRUCTIONS, tools=tools
    )
