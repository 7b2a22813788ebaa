"""The vault's MCP tools, for any MCP client: the seed's six vault operations,
``vault.fetch`` (a brokered request: use a credential without seeing it),
``identity.whoami``, and the official server's typed store tools
(``vault_storeApiKey``, ``vault_storeCard``, ``vault_storeShippingAddress``,
with its arguments).

Names: listed in one spelling, ``vault_store`` by default (the only one every
host accepts: Claude Desktop, Cursor, Windsurf, Codex and Copilot CLI refuse a
dot) or the seed's ``vault.store``; a call by either spelling works.
Descriptions and the server's instructions name the listed spelling.

A key is shown the tools its scopes can call (as the official server does,
from ``/v0/whoami`` at start over stdio, from the authenticated key over
HTTP); a call to another tool gets ``forbidden (insufficient_scope)``, exactly
as over HTTP. How a tool is made: :mod:`loomal.mcp.toolkit`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from loomal.core.access_request_models import AccessRequestCreate, AccessRequestCreated
from loomal.core.models import (
    Credential,
    CredentialList,
    DeleteResult,
    FetchRequest,
    FetchResponse,
    IdentityResponse,
    StoreRequest,
    StoreResponse,
    TotpBackupResponse,
    TotpResponse,
)
from loomal.core.principals import Scope
from loomal.core.types import TYPE_RULES, CredentialType
from loomal.mcp.backends import VaultBackend
from loomal.mcp.names import ToolNameMode
from loomal.mcp.protocol import ScopesFor
from loomal.mcp.toolkit import (
    DESTRUCTIVE_IDEMPOTENT,
    Name,
    Sentences,
    ToolSpec,
    build_server,
    guarded,
    reads,
)
from loomal.mcp.typed_store_tools import TYPED_STORE_TOOLS, VaultAction, typed_store_tools

__all__ = ["TOOLS", "BackendFor", "build_mcp_server"]

BackendFor = Callable[[Context], Awaitable[VaultBackend]]
"""Resolves the backend for one tool call (and authenticates it, over HTTP)."""

RevealApproval = Annotated[
    str | None,
    Field(
        description="Only after an approval_pending answer, once the user approved: the "
        "approval id it gave"
    ),
]
RevealReason = Annotated[
    str | None,
    Field(
        description="Why you need the secret now, for the user who may be asked to approve "
        "it (plain text, at most 500 characters)",
        max_length=500,
    ),
]

_INSTRUCTIONS: Sentences = (
    ("Loomal Vault holds the credentials this agent may use.", ()),
    (
        "Call {vault_list} to see what exists (names, types, metadata; no secrets).",
        ("vault_list",),
    ),
    (
        "Call {vault_get} for a credential's secret data (only when you need it now: it puts "
        "the secret into this conversation).",
        ("vault_get",),
    ),
    ("Call {vault_totp} for a live 2FA code.", ("vault_totp",)),
    (
        "To call an HTTP API with a stored key, use {vault_fetch}: the vault makes the request "
        "and the key never enters this conversation.",
        ("vault_fetch",),
    ),
    (
        "Consume a backup code only with {vault_totp_use_backup}, never by editing backupCodes "
        "through {vault_store}.",
        ("vault_totp_use_backup", "vault_store"),
    ),
    (
        "When a credential you need is missing, ask the user for it with {vault_request}, "
        "never in the conversation.",
        ("vault_request",),
    ),
    ("{identity_whoami} tells which identity and scopes this key has.", ("identity_whoami",)),
)


def _type_requirements() -> str:
    lines = []
    for kind in CredentialType:
        rule = TYPE_RULES.get(kind)
        if kind is CredentialType.TOTP:
            line = "data.secret (base32 seed), optional data.backupCodes (list of strings)"
        elif rule is None:
            line = "any fields you choose (at least one)"
        else:
            optional = sorted(rule.known - {f for group in rule.required for f in group} - {"totp"})
            line = rule.describe_required()
            line += f" (optional: {', '.join(optional)})" if optional else ""
        lines.append(f"- {kind.value}: {line}")
    return "\n".join(lines)


_STORE_TYPES = _type_requirements()


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec("vault.list", "List credentials", CredentialList, reads(), Scope.USE),
    ToolSpec("vault.get", "Get a credential's secret", Credential, reads(), Scope.READ),
    ToolSpec("vault.totp", "Current TOTP code", TotpResponse, reads(), Scope.USE),
    ToolSpec(
        "vault.totp_use_backup",
        "Use a TOTP backup code",
        TotpBackupResponse,
        # Each call consumes a code for good: a second call takes the next one.
        ToolAnnotations(
            read_only_hint=False,
            destructive_hint=True,
            idempotent_hint=False,
            open_world_hint=False,
        ),
        Scope.WRITE,
    ),
    ToolSpec(
        "vault.store", "Store a credential", StoreResponse, DESTRUCTIVE_IDEMPOTENT, Scope.WRITE
    ),
    *TYPED_STORE_TOOLS,
    ToolSpec(
        "vault.delete", "Delete a credential", DeleteResult, DESTRUCTIVE_IDEMPOTENT, Scope.WRITE
    ),
    ToolSpec(
        "vault.fetch",
        "Call an API with a credential",
        FetchResponse,
        # The vault sends an HTTP request to an outside API, which may change things there.
        ToolAnnotations(
            read_only_hint=False,
            destructive_hint=True,
            idempotent_hint=False,
            open_world_hint=True,
        ),
        Scope.USE,
    ),
    ToolSpec(
        "vault.request",
        "Ask the user for a missing credential",
        AccessRequestCreated,
        # Each call files a new request for a person (not idempotent); it changes no credential.
        ToolAnnotations(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=False,
        ),
        Scope.USE,
    ),
    ToolSpec("identity.whoami", "Who am I", IdentityResponse, reads(), None),
)
"""Every tool, in listing order, with its hints and scope (docs/mcp.md says why each)."""


def build_mcp_server(
    backend_for: BackendFor,
    tool_names: ToolNameMode = "underscore",
    scopes_for: ScopesFor | None = None,
) -> MCPServer[Any]:
    """An MCPServer whose tools reach the vault through ``backend_for``, listed in the
    ``tool_names`` spelling; with ``scopes_for``, a key sees the tools it can call."""

    async def call(ctx: Context, action: VaultAction) -> CallToolResult:
        async def run() -> Any:
            return await action(await backend_for(ctx))

        return await guarded(run)

    async def vault_list(
        ctx: Context,
        limit: Annotated[int, Field(ge=1, le=1000, description="Page size (1-1000)")] = 100,
        cursor: Annotated[
            str | None, Field(description="nextCursor of the previous page, to read the next")
        ] = None,
    ) -> CallToolResult:
        """List the credentials this agent can use: name, type, metadata and dates of
        each, never a secret value. Call it first to find the name to pass to {vault_get}
        or {vault_totp}. When the answer has nextCursor, pass it as cursor for the next
        page."""
        return await call(ctx, lambda b: b.list(limit, cursor))

    async def vault_get(
        name: Name,
        ctx: Context,
        approval_id: RevealApproval = None,
        reason: RevealReason = None,
    ) -> CallToolResult:
        """Get one credential with its decrypted secret data (data.password of a LOGIN,
        data.key of an API_KEY, ...). This returns the secret into your context: call it
        only when you need the secret now, and do not repeat it in your replies. A TOTP seed
        reads as "[use /v0/vault/:name/totp]" (hasTOTP is true): call {vault_totp} for a
        code instead. A credential may require the user's approval before its secret is
        read: the answer then says where the user approves; call again with approval_id."""
        return await call(ctx, lambda b: b.get(name, approval_id, reason))

    async def vault_totp(
        name: Name,
        ctx: Context,
        approval_id: RevealApproval = None,
        reason: RevealReason = None,
    ) -> CallToolResult:
        """Generate the current TOTP (2FA) code of a credential that holds a TOTP seed (a
        TOTP credential, or any credential with data.totp). Also returns remaining (seconds
        the code stays valid: if only a few remain, wait and call again) and
        backupCodesRemaining. Never returns the seed. Like {vault_get}, it may need the
        user's approval first (then call again with approval_id)."""
        return await call(ctx, lambda b: b.totp(name, approval_id, reason))

    async def vault_totp_use_backup(name: Name, ctx: Context) -> CallToolResult:
        """Consume one single-use backup code of a TOTP credential and return it, with how
        many remain. The code is gone once returned (a second call returns the next code),
        so call it only when a backup code is needed and {vault_totp} cannot be used.
        Atomic: each code is handed out once, even to concurrent agents. This is the only
        safe way to use a backup code; never remove codes by rewriting the credential with
        {vault_store}."""
        return await call(ctx, lambda b: b.totp_use_backup(name))

    async def vault_store(
        name: Name,
        type: Annotated[CredentialType, Field(description="Credential type")],  # noqa: A002
        data: Annotated[
            dict[str, Any],
            Field(
                description="Secret fields (encrypted at rest); which ones each type needs is "
                "in the tool description"
            ),
        ],
        ctx: Context,
        metadata: Annotated[
            dict[str, Any] | None,
            Field(
                description="Non-secret fields, shown by lists: username, uri, service, "
                "issuer, account, host..."
            ),
        ] = None,
        expiresAt: Annotated[  # the wire's name
            str | None, Field(description="Expiry, ISO 8601 (e.g. 2030-01-31T00:00:00Z)")
        ] = None,
    ) -> CallToolResult:
        """Store a credential, or overwrite the one with this name (its credentialId is
        kept; the old secret is replaced). Secrets go in data, everything else in metadata:
        a LOGIN's username goes in metadata, its password in data.

        What data needs, by type:

        {store_types}

        Any type may also carry data.totp (a base32 seed or an otpauth:// URI); then
        {vault_totp} generates its codes. Do not use this tool to consume TOTP backup codes:
        use {vault_totp_use_backup}."""
        request = StoreRequest(type=type.value, data=data, metadata=metadata, expires_at=expiresAt)
        return await call(ctx, lambda b: b.store(name, request))

    async def vault_delete(name: Name, ctx: Context) -> CallToolResult:
        """Delete a credential: it is gone at once (not_found everywhere, its name free to
        store again), yet recoverable for the server's retention period (30 days unless
        configured otherwise): undelete it with POST /v0/vault/{{name}}/undelete, `loomal
        vault undelete NAME` or the console's Recently deleted page. Deleting a name
        that does not exist (or was already deleted) answers not_found and changes
        nothing."""

        async def delete(backend: VaultBackend) -> DeleteResult:
            await backend.delete(name)
            return DeleteResult(name=name, deleted=True)

        return await call(ctx, delete)

    async def vault_fetch(
        name: Name,
        url: Annotated[
            str,
            Field(
                description="Full https:// URL; its host must be in the credential's "
                "metadata.allowedHosts"
            ),
        ],
        ctx: Context,
        method: Annotated[
            str, Field(description="GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS")
        ] = "GET",
        headers: Annotated[
            dict[str, str] | None,
            Field(
                description="Extra headers, e.g. Content-Type; never Authorization, Cookie "
                "or Host: the vault adds the credential"
            ),
        ] = None,
        body: Annotated[
            str | dict[str, Any] | list[Any] | None,
            Field(
                description="Request body: text, or a JSON object/array (sent as "
                "application/json); at most 1 MiB"
            ),
        ] = None,
        approval_id: Annotated[
            str | None,
            Field(
                description="Only after an approval_pending answer, once the user approved: "
                "the approval id it gave, with the same other arguments"
            ),
        ] = None,
        reason: Annotated[
            str | None,
            Field(
                description="Why you make this request, in one or two sentences for the user "
                "who may be asked to approve it (plain text, at most 500 characters)",
                max_length=500,
            ),
        ] = None,
    ) -> CallToolResult:
        """Call an HTTP API with a stored credential without ever seeing it: the vault makes
        the request, adds the credential (e.g. Authorization: Bearer <key>) and returns
        status, headers and body, with the secret replaced by [REDACTED] wherever the
        answer echoes it. Prefer this to {vault_get} whenever you only need to call the
        API: it works with a vault:use key, and the key never enters this conversation.
        Only hosts in the credential's metadata.allowedHosts are reachable; an answer with
        an HTTP error status (401, 404, 429...) is still a result, read its status. When
        the credential's rules want a person to approve the request, nothing is sent and
        the answer says where the user approves (say why in reason: the user reads it);
        then call again with approval_id."""
        request = FetchRequest(
            method=method,
            url=url,
            headers=headers,
            body=body,
            approval_id=approval_id,
            reason=reason,
        )
        return await call(ctx, lambda b: b.fetch(name, request))

    async def vault_request(
        name: Name,
        type: Annotated[CredentialType, Field(description="Credential type")],  # noqa: A002
        reason: Annotated[
            str,
            Field(description="Why you need it, for the user (plain text, at most 500 characters)"),
        ],
        ctx: Context,
        allowedHosts: Annotated[  # the wire's name
            list[str] | None,
            Field(description="Hosts the credential will be sent to, e.g. api.stripe.com"),
        ] = None,
    ) -> CallToolResult:
        """Ask the user for a credential you need but do not have ({vault_list} does not
        show it): the answer's url is a page where the user fills it in (or declines).
        Tell the user that url and why you need it, then wait: once they say it is done,
        {vault_list} shows the credential and {vault_fetch} can use it. Ask once per
        credential; a request expires after 7 days. Never ask the user to paste a secret
        into this conversation instead."""
        ask = AccessRequestCreate(
            name=name, type=type.value, reason=reason, allowed_hosts=allowedHosts
        )
        return await call(ctx, lambda b: b.request(ask))

    async def identity_whoami(ctx: Context) -> CallToolResult:
        """Tell which identity this API key belongs to: its name, id and the scopes the key
        has (vault:read to get secrets and codes, vault:write to store, delete and use
        backup codes, vault:use to list, get codes and call APIs with {vault_fetch} without
        seeing secrets). Call it to find out why a tool answered insufficient_scope."""
        return await call(ctx, lambda b: b.whoami())

    functions: dict[str, Callable[..., Any]] = {
        "vault.list": vault_list,
        "vault.get": vault_get,
        "vault.totp": vault_totp,
        "vault.totp_use_backup": vault_totp_use_backup,
        "vault.store": vault_store,
        **typed_store_tools(call),
        "vault.delete": vault_delete,
        "vault.fetch": vault_fetch,
        "vault.request": vault_request,
        "identity.whoami": identity_whoami,
    }
    return build_server(
        name="loomal-vault",
        specs=TOOLS,
        functions=functions,
        tool_names=tool_names,
        instructions=_INSTRUCTIONS,
        scopes_for=scopes_for,
        fill={"store_types": _STORE_TYPES},
    )
