"""``python -m loomal.mcp``: the same as ``loomal mcp``."""

from loomal.cli.mcp import mcp

mcp()
