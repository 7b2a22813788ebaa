"""The vault as MCP tools: over stdio (``loomal mcp``, a client of a running
server) and over streamable HTTP at ``/mcp`` on the server itself."""
