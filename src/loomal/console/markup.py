"""HTML escaping for the console's string templates.

Every value placed in a page goes through :func:`esc` unless it is already
:class:`Html` (built here from escaped parts), so a credential name or a
metadata value can never become markup. Templates are plain ``str.format``
strings: the pages hold no inline script or style (the CSP forbids both).
"""

from __future__ import annotations

import html
from collections.abc import Iterable

__all__ = ["Html", "attrs", "esc", "join", "render"]


class Html(str):
    """Text that is already safe markup."""

    __slots__ = ()

    def __add__(self, other: str) -> Html:
        """Concatenation keeps the result safe: plain text added is escaped."""
        return Html(str.__add__(self, esc(other)))


def esc(value: object) -> Html:
    if isinstance(value, Html):
        return value
    return Html(html.escape("" if value is None else str(value), quote=True))


def render(template: str, **values: object) -> Html:
    """``template`` with each ``{name}`` replaced by the escaped value."""
    return Html(template.format(**{key: esc(value) for key, value in values.items()}))


def join(parts: Iterable[Html], separator: str = "") -> Html:
    return Html(separator.join(esc(part) for part in parts))


def attrs(**values: object) -> Html:
    """Attributes from keywords (``class_`` for class, ``data_x`` for data-x); True
    writes a bare attribute, False and None leave it out."""
    out = []
    for key, value in values.items():
        name = key.rstrip("_").replace("_", "-")
        if value is True:
            out.append(f" {name}")
        elif value is not False and value is not None:
            out.append(f' {name}="{esc(value)}"')
    return Html("".join(out))
