"""The web console: people add and look after credentials in a browser.

Served by ``loomal serve`` at ``/`` (the API stays under ``/v0``), from
server-rendered pages, one script and one stylesheet shipped in this package:
no CDN, no external font, no build step. See docs/console.md.
"""

from __future__ import annotations

from loomal.console.routes import CONSOLE_ROUTES
from loomal.console.web import CSP

__all__ = ["CONSOLE_ROUTES", "CSP"]
