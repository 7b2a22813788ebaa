"""The web console: people add and look after credentials in a browser.

Served by ``loomal serve`` at ``/`` (the API stays under ``/v0``), from
server-rendered pages, one script and one stylesheet shipped in this package:
no CDN, no external font, no build step. See docs/console.md. The routes are in
:mod:`loomal.console.routes`; this package's root imports nothing, so
``loomal identity login-link`` loads only the session rules.
"""
