"""``python -m loomal.mcp``: the same as ``loomal mcp``, without the CLI package."""

from loomal.mcp.entry import main

main()
