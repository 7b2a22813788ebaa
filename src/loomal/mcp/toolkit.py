"""How a Loomal MCP tool is made, for the vault's tools and the platform's alike.

A tool is a typed function whose docstring, cleaned and filled with the listed
names, is the description the model reads; its output schema is generated from
the msgspec model the HTTP API returns. Arguments are checked before the
function runs, refusing unknown ones by name, and no error quotes a value.
Results are structured content plus the same JSON as text (for clients that
show models text only); errors are tool errors ``"<code>: <message>"`` with the
API's codes.

Each server lists its tools in one spelling and answers calls by either
(:class:`loomal.mcp.protocol.VaultMiddleware`); with a key's scopes known, it
lists only the tools those scopes can call, while a call to another still gets
the scope error, as over HTTP.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
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
from loomal.core.principals import Scope, scopes_allow
from loomal.errors import ApprovalPendingError, LoomalError, ServerError
from loomal.mcp.names import ToolNameMode, spelled
from loomal.mcp.protocol import Listing, ScopesFor, VaultMiddleware

__all__ = [
    "DESTRUCTIVE_IDEMPOTENT",
    "Name",
    "Sentences",
    "ToolSpec",
    "build_server",
    "guarded",
    "output_schema",
    "prose",
    "reads",
]

log = logging.getLogger("loomal.mcp")


@dataclass(frozen=True)
class ToolSpec:
    name: str
    """The dotted spelling (the seed's, for the vault tools)."""
    title: str
    output: type[Any]
    hints: ToolAnnotations
    scope: Scope | None
    """What a key needs to call it (None: any key), and so to see it listed."""


def reads() -> ToolAnnotations:
    return ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)


DESTRUCTIVE_IDEMPOTENT = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)
"""Storing over a name replaces its secret (destructive); the same arguments twice leave
the vault as one call did (idempotent). Deleting too: a second delete changes nothing."""

Name = Annotated[
    str,
    Field(
        description="Credential name: 1-128 of A-Z a-z 0-9 . _ -, not starting with '.'",
        min_length=1,
        max_length=128,
    ),
]
"""A credential name argument."""


def prose(docstring: str) -> str:
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


async def _unbound(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("a made tool is copied with the function of its server")


_MADE_TOOLS: dict[tuple[Any, ...], Tool] = {}


def _made_tool(function: Callable[..., Any], spec: ToolSpec, name: str, doc: str) -> Tool:
    """The tool for ``function``, holding no function (the caller binds its own).

    Deriving a tool (the argument model, its schema refusing unknown arguments,
    the output schema) is pydantic work that depends on the function's code and
    signature only, never on what it closes over (one server's backend). Every
    server a process builds (each app a test creates) shares it: building it per
    server cost about 50 ms of CPU each time. Kept without the function, so no
    server's vault stays reachable from here.
    """
    key = (function.__code__, name, doc, spec.title, spec.output, spec.hints.model_dump_json())
    made = _MADE_TOOLS.get(key)
    if made is None:
        tool = _CheckedTool.from_function(
            function,
            name=name,
            title=spec.title,
            description=doc,
            annotations=spec.hints.model_copy(update={"title": spec.title}),
        )
        tool.fn_metadata.output_schema = output_schema(spec.output)
        _refuse_unknown_arguments(tool)
        made = _MADE_TOOLS[key] = tool.model_copy(update={"fn": _unbound})
    return made


class _CheckedTool(Tool):
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
    if isinstance(error, ApprovalPendingError):
        # An error result (a tool with an output schema must return it on success), with
        # words the model relays: the step is the user's, then the same call again.
        text = (
            f"approval_pending: nothing was sent yet. Ask the user to approve this request at "
            f"{error.approval_url} (the vault console's page for it; expires "
            f"{error.expires_at}), then call the tool again with the same arguments and "
            f'approval_id "{error.approval_id}".'
        )
        return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
    code = f"{error.code} ({error.reason})" if error.reason else error.code
    return CallToolResult(
        content=[TextContent(type="text", text=f"{code}: {error.message}")], is_error=True
    )


async def guarded(action: Callable[[], Awaitable[Any]]) -> CallToolResult:
    """Run one tool's call: its result, or its error as a tool error (never a
    traceback or an exception's text: those are logged by type only)."""
    try:
        return _result(await action())
    except LoomalError as error:
        return _error(error)
    except Exception as exc:
        log.error("MCP tool failed with %s", type(exc).__name__)
        return _error(ServerError())


Sentences = Sequence[tuple[str, tuple[str, ...]]]
"""A server's instructions: each sentence (``{vault_list}`` marks a tool's listed name)
with the underscore names of the tools it mentions; it is left out for a key that
cannot call one of them."""


def build_server(
    *,
    name: str,
    specs: Sequence[ToolSpec],
    functions: Mapping[str, Callable[..., Any]],
    tool_names: ToolNameMode,
    instructions: Sentences,
    scopes_for: ScopesFor | None,
    fill: Mapping[str, str] | None = None,
) -> MCPServer[Any]:
    """An MCPServer with ``specs``' tools (``functions`` by dotted name), listed in the
    ``tool_names`` spelling, answering both. ``fill`` adds to what descriptions are
    formatted with (besides every tool's name in the listed spelling).

    ``scopes_for`` tells the scopes of the key a request comes with; given, a key is
    shown only the tools (and the sentences of the instructions) its scopes can call.
    """
    names = {spelled(spec.name, "underscore"): spelled(spec.name, tool_names) for spec in specs}
    required = {spelled(spec.name, "underscore"): spec.scope for spec in specs}
    tools = []
    for spec in specs:
        function = functions[spec.name]
        doc = prose(function.__doc__ or "").format(**names, **(fill or {}))
        made = _made_tool(function, spec, spelled(spec.name, tool_names), doc)
        tools.append(made.model_copy(update={"fn": function}))
    other: ToolNameMode = "dotted" if tool_names == "underscore" else "underscore"
    aliases = {spelled(s.name, other): spelled(s.name, tool_names) for s in specs}

    def callable_with(scopes: frozenset[Scope] | None, underscore: str) -> bool:
        needed = required[underscore]
        return scopes is None or needed is None or scopes_allow(scopes, needed)

    def instructions_for(scopes: frozenset[Scope] | None) -> str:
        return " ".join(
            text.format(**names)
            for text, mentioned in instructions
            if all(callable_with(scopes, tool) for tool in mentioned)
        )

    listing = None
    if scopes_for is not None:
        listing = Listing(
            scopes_for=scopes_for,
            hidden=lambda scopes: frozenset(
                names[u] for u in names if not callable_with(scopes, u)
            ),
            instructions=instructions_for,
        )
    return MCPServer(
        name=name,
        version=__version__,
        instructions=instructions_for(None),
        tools=tools,
        subscriptions=False,  # nothing here changes under a client: no list_changed to listen for
        middleware=[VaultMiddleware([t.name for t in tools], aliases, listing)],
    )
