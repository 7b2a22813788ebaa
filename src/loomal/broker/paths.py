"""Paths of brokered requests: dot segments resolved before a path is joined to
``baseUrl``, so a proxied path never reaches above the base path.

``/v0/proxy/tenant/../../admin`` must not become ``/admin`` on an upstream whose
``baseUrl`` is ``https://api.example.com/v1/tenant-a``: the upstream (or a
server in front of it) would resolve the ``..`` after the vault joined the
paths. So the path is normalised on its own first (``.`` and ``..`` in any
percent-encoded spelling, RFC 3986 section 5.2.4) and refused when it climbs
above its root; a segment that hides a ``..`` behind an encoded separator
(``..%2F``, ``%5C..``) is refused too, as some servers decode those.
"""

from __future__ import annotations

import re

from loomal.errors import BadRequestError

__all__ = ["normalize_path", "path_under"]

_ENCODED_DOT = re.compile(r"%2[eE]")
_ENCODED_SEPARATOR = re.compile(r"%2[fF]|%5[cC]|\\")


def _dots(segment: str) -> str:
    return _ENCODED_DOT.sub(".", segment)


def _climbs() -> BadRequestError:
    return BadRequestError(
        "The path climbs above the credential's base path with '..'; the proxy only "
        "reaches paths under metadata.baseUrl.",
        reason="path_outside_base",
    )


def normalize_path(path: str) -> str:
    """``path`` (absolute, percent-encoding kept) with ``.`` and ``..`` segments
    resolved; 400 ``path_outside_base`` when ``..`` climbs above ``/``."""
    kept: list[str] = []
    segments = path.split("/")[1:] if path.startswith("/") else path.split("/")
    trailing = False
    for segment in segments:
        pieces = _ENCODED_SEPARATOR.split(segment)
        if len(pieces) > 1 and any(_dots(piece) == ".." for piece in pieces):
            raise _climbs()
        plain = _dots(segment)
        trailing = plain in (".", "..")
        if plain == ".":
            continue
        if plain == "..":
            if not kept:
                raise _climbs()
            kept.pop()
            continue
        kept.append(segment)
    return "/" + "/".join(kept) + ("/" if trailing and kept else "")


def path_under(base_path: str, path: str) -> str:
    """``path`` joined below ``base_path`` (which keeps its own spelling), never above it."""
    return base_path.rstrip("/") + normalize_path(path)
