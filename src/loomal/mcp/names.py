"""The two spellings of the MCP tool names (imported by the settings, so it
imports nothing heavy).

``underscore`` (``vault_store``) is the default: it is the only spelling every
host accepts (Claude Desktop allows ``^[a-zA-Z0-9_-]{1,64}$``; Cursor,
Windsurf, Codex and Copilot CLI refuse a dot too; VS Code renames it).
``dotted`` (``vault.store``) is the seed's spelling, legal in MCP.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

__all__ = ["TOOL_NAME_MODES", "ToolNameMode", "spelled"]

ToolNameMode = Literal["underscore", "dotted"]
TOOL_NAME_MODES: Final[tuple[str, ...]] = get_args(ToolNameMode)


def spelled(name: str, mode: ToolNameMode) -> str:
    """``vault.store`` in ``mode``'s spelling (``vault_store`` or ``vault.store``)."""
    group, _, operation = name.partition(".")
    return f"{group}_{operation}" if mode == "underscore" else name
