"""The vault's MCP tools, for any MCP client: the seed's six vault operations,
``vault.fetch`` (a brokered request: use a credential without seeing it) and
``identity.whoami``.

Names: listed in one spelling, ``vault_store`` by default (the only one every
host accepts: Claude Desktop, Cursor, Windsurf, Codex and Copilot CLI refuse a
dot) or the seed's ``vault.store``; a call by either spelling works
(:class:`loomal.mcp.protocol.VaultMiddleware`). Descriptions and the server's
instructions name the listed spelling.

Each tool is a typed function whose docstring, cleaned and filled with the
listed names, is the description the model reads; its output schema is
generated from the same msgspec model the HTTP API returns. Results are
structured content plus the same JSON as text (for clients that show models
text only). Errors come back as tool errors ``"<code>: <message>"`` with the
SPEC's codes; no error repeats an argument's value.

All tools are always listed; a key without the scope a tool needs gets a
``forbidden (insufficient_scope)`` tool error, exactly as over HTTP.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, cast

import msgspec
import pydantic
from mcp.server.context import LifespanContextT, RequestT
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from loomal._version import __version__
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
from loomal.core.types import TYPE_RULES, CredentialType
from loomal.errors import LoomalError, ServerError
from loomal.mcp.backends import VaultBackend
from loomal.mcp.names import ToolNameMode, spelled
from loomal.mcp.protocol import VaultMiddleware

__all__ = ["TOOLS", "BackendFor", "build_mcp_server", "output_schema"]

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

_INSTRUCTIONS = """\
Loomal Vault holds the credentials this agent may use. Call {vault_list} to see what \
exists (names, types, metadata; no secrets), {vault_get} for a credential's secret data \
(only when you need it now: it puts the secret into this conversation), {vault_totp} for a \
live 2FA code. To call an HTTP API with a stored key, use {vault_fetch}: the vault makes \
the request and the key never enters this conversation. Consume a backup code only with \
{vault_totp_use_backup}, never by editing backupCodes through {vault_store}. \
{identity_whoami} tells which identity and scopes this key has."""


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


def _prose(docstring: str) -> str:
    """A docstring as a model should read it: indentation gone (``inspect.cleandoc``)
    and each paragraph on one line; list items (``- ``) keep their own lines."""
    paragraphs = []
    for block in inspect.cleandoc(docstring).split("\n\n"):
        lines: list[str] = []
        for line in block.splitlines():
            if lines and not line.startswith("- "):
                lines[-1] += " " + line.strip()
            else:
                lines.append(line.strip())
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


def output_schema(model: type[Any]) -> dict[str, Any]:
    """The JSON Schema msgspec derives from a wire model, rooted at the model itself.

    Object-level titles and descriptions are dropped: they are the models'
    docstrings, written for this code's readers (HTTP routes, status codes),
    not for a model calling the tool. Field descriptions stay.
    """
    (ref,), defs = msgspec.json.schema_components([model], ref_template="#/$defs/{name}")
    root: dict[str, Any] = dict(defs.pop(ref["$ref"].rsplit("/", 1)[1]))
    for schema in (root, *defs.values()):
        schema.pop("title", None)
        schema.pop("description", None)
    if defs:
        root["$defs"] = defs
    return root


_PLAIN_MESSAGES = {"dict_type": "must be a JSON object", "string_type": "must be a string"}
"""pydantic's wording where it speaks Python ("a valid dictionary")."""


def _refuse_unknown_arguments(tool: Tool) -> None:
    """Make ``tool`` (as ``from_function`` built it) refuse arguments it does not declare.

    The package's argument model ignores unknown fields, so a misspelt
    ``expires_at`` would be dropped without a word (the HTTP API refuses unknown
    fields with 422). Its subclass with ``extra="forbid"`` refuses them, and the
    input schema generated from it says ``additionalProperties: false``.
    """
    model = tool.fn_metadata.arg_model
    attributes = {
        "model_config": pydantic.ConfigDict(extra="forbid"),
        "__module__": model.__module__,
    }
    strict = cast(type[ArgModelBase], type(model.__name__, (model,), attributes))
    tool.fn_metadata.arg_model = strict
    tool.parameters = strict.model_json_schema(by_alias=True)


class _VaultTool(Tool):
    """A tool whose argument errors never quote an argument.

    pydantic's message for a failed argument includes the input (for a missing
    field, every argument: the secret ``data`` too). Arguments are checked here
    first and reported as ``validation_error: <field>: <rule>`` only. An
    argument the tool does not have is named (the name is the schema's
    business, not a secret), its value never.
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
            known = ", ".join(self.parameters.get("properties", {}))
            unknown = "unknown argument " + (
                f"(the arguments are: {known})" if known else "(this tool takes none)"
            )
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or 'arguments'}: "
                + (
                    unknown
                    if error["type"] == "extra_forbidden"
                    else _PLAIN_MESSAGES.get(error["type"], error["msg"])
                )
                for error in exc.errors(
                    include_input=False, include_url=False, include_context=False
                )
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


@dataclass(frozen=True)
class ToolSpec:
    name: str
    """The seed's (dotted) spelling."""
    title: str
    output: type[Any]
    hints: ToolAnnotations


def _reads() -> ToolAnnotations:
    return ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec("vault.list", "List credentials", CredentialList, _reads()),
    ToolSpec("vault.get", "Get a credential's secret", Credential, _reads()),
    ToolSpec("vault.totp", "Current TOTP code", TotpResponse, _reads()),
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
    ),
    ToolSpec(
        "vault.store",
        "Store a credential",
        StoreResponse,
        # Overwriting replaces a secret (destructive); the same arguments twice
        # leave the vault as one call did (idempotent).
        ToolAnnotations(
            read_only_hint=False,
            destructive_hint=True,
            idempotent_hint=True,
            open_world_hint=False,
        ),
    ),
    ToolSpec(
        "vault.delete",
        "Delete a credential",
        DeleteResult,
        # A second delete answers not_found and changes nothing: idempotent in effect.
        ToolAnnotations(
            read_only_hint=False,
            destructive_hint=True,
            idempotent_hint=True,
            open_world_hint=False,
        ),
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
    ),
    ToolSpec("identity.whoami", "Who am I", IdentityResponse, _reads()),
)
"""Every tool, in listing order, with its hints (see docs/mcp.md for why each)."""


def build_mcp_server(
    backend_for: BackendFor, tool_names: ToolNameMode = "underscore"
) -> MCPServer[Any]:
    """An MCPServer whose tools reach the vault through ``backend_for``,
    listed in the ``tool_names`` spelling."""

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

    async def vault_get(name: Name, ctx: Context) -> CallToolResult:
        """Get one credential with its decrypted secret data (data.password of a LOGIN,
        data.key of an API_KEY, ...). This returns the secret into your context: call it
        only when you need the secret now, and do not repeat it in your replies. A TOTP seed
        reads as "[use /v0/vault/:name/totp]" (hasTOTP is true): call {vault_totp} for a
        code instead."""
        return await call(ctx, lambda b: b.get(name))

    async def vault_totp(name: Name, ctx: Context) -> CallToolResult:
        """Generate the current TOTP (2FA) code of a credential that holds a TOTP seed (a
        TOTP credential, or any credential with data.totp). Also returns remaining (seconds
        the code stays valid: if only a few remain, wait and call again) and
        backupCodesRemaining. Never returns the seed."""
        return await call(ctx, lambda b: b.totp(name))

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
        """Delete a credential permanently: its secret cannot be recovered. Deleting a name
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
    ) -> CallToolResult:
        """Call an HTTP API with a stored credential without ever seeing it: the vault makes
        the request, adds the credential (e.g. Authorization: Bearer <key>) and returns
        status, headers and body, with the secret replaced by [REDACTED] wherever the
        answer echoes it. Prefer this to {vault_get} whenever you only need to call the
        API: it works with a vault:use key, and the key never enters this conversation.
        Only hosts in the credential's metadata.allowedHosts are reachable; an answer with
        an HTTP error status (401, 404, 429...) is still a result, read its status."""
        request = FetchRequest(method=method, url=url, headers=headers, body=body)
        return await call(ctx, lambda b: b.fetch(name, request))

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
        "vault.delete": vault_delete,
        "vault.fetch": vault_fetch,
        "identity.whoami": identity_whoami,
    }
    names = {spelled(spec.name, "underscore"): spelled(spec.name, tool_names) for spec in TOOLS}
    tools = []
    for spec in TOOLS:
        doc = _prose(functions[spec.name].__doc__ or "")
        tool = _VaultTool.from_function(
            functions[spec.name],
            name=spelled(spec.name, tool_names),
            title=spec.title,
            description=doc.format(**names, store_types=_STORE_TYPES),
            annotations=spec.hints.model_copy(update={"title": spec.title}),
        )
        tool.fn_metadata.output_schema = output_schema(spec.output)
        _refuse_unknown_arguments(tool)
        tools.append(tool)
    other: ToolNameMode = "dotted" if tool_names == "underscore" else "underscore"
    aliases = {spelled(s.name, other): spelled(s.name, tool_names) for s in TOOLS}
    return MCPServer(
        name="loomal-vault",
        version=__version__,
        instructions=_INSTRUCTIONS.format(**names),
        tools=tools,
        subscriptions=False,  # nothing here changes under a client: no list_changed to listen for
        middleware=[VaultMiddleware([t.name for t in tools], aliases)],
    )
