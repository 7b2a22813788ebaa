"""How the client CLI shows results: plain tables for people, JSON for scripts, one
raw field for pipes. Secrets appear only where the user asked for a credential.

Plain text, not rich: with rich (and so pygments) installed beside click, httpx
imports its own command-line module, which made ``from loomal import Loomal``
2.7 times slower (188 ms against 69 ms for ``import httpx`` here). The base
install (an agent's) carries neither.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import click
import msgspec

from loomal.core.models import Credential, CredentialSummary
from loomal.errors import ValidationError

__all__ = [
    "echo_json",
    "echo_listing",
    "echo_result",
    "pick_field",
    "print_credential",
    "print_rows",
    "print_summaries",
    "when",
]


def to_builtins(value: Any) -> Any:
    return msgspec.to_builtins(value)


def echo_json(value: Any) -> None:
    click.echo(msgspec.json.encode(to_builtins(value)).decode())


T = TypeVar("T")


def echo_listing(
    listing: Any, items: Sequence[T], line: Callable[[T], str], *, as_json: bool, empty: str
) -> None:
    """A page of a list: for scripts the whole page as the API answered it (its
    cursor included), for people one line an item, or ``empty`` when none."""
    if as_json:
        echo_json(listing)
        return
    if not items:
        click.echo(empty)
    for item in items:
        click.echo(line(item))


def echo_result(value: T, show: Callable[[T], None], *, as_json: bool) -> None:
    """One result: JSON for scripts, else as ``show`` prints it for people."""
    if as_json:
        echo_json(value)
    else:
        show(value)


def pick_field(value: Any, path: str) -> Any:
    """``data.key`` → the value at that path of the API's JSON (camelCase names)."""
    current = to_builtins(value)
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            raise ValidationError(f"--field {path}: no field {part!r} in the result.")
        current = current[part]
    return current


def echo_raw(value: Any) -> None:
    """A string as-is (no quotes, for piping); anything else as JSON."""
    click.echo(value if isinstance(value, str) else msgspec.json.encode(value).decode())


def when(value: Any) -> str:
    """A time as the tables show it, or ``-``."""
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M:%S}Z"


def print_rows(header: list[str] | None, rows: list[list[str]], title: str | None = None) -> None:
    """Plain columns, a header underlined by dashes (the client CLI has no rich)."""
    lines = ([header] if header else []) + rows
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    if title:
        click.echo(title)
    for n, line in enumerate(lines):
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
        if header and n == 0:
            click.echo("  ".join("-" * w for w in widths))


def print_summaries(items: Iterable[CredentialSummary]) -> None:
    rows = []
    for item in items:
        meta = ", ".join(f"{k}={v}" for k, v in item.metadata.items())
        expires = when(item.expires_at) + (" (expired)" if item.expired else "")
        rows.append(
            [item.name, item.type, meta, when(item.updated_at), when(item.last_used_at), expires]
        )
    if not rows:
        click.echo("No credentials.")
        return
    print_rows(["name", "type", "metadata", "updated", "last used", "expires"], rows)


def print_credential(credential: Credential) -> None:
    rows = [
        [f"data.{key}", value if isinstance(value, str) else str(to_builtins(value))]
        for key, value in credential.data.items()
    ]
    rows += [[f"metadata.{key}", str(value)] for key, value in credential.metadata.items()]
    rows.append(["credentialId", credential.credential_id])
    rows.append(["updated", when(credential.updated_at)])
    if credential.expires_at:
        rows.append(["expires", when(credential.expires_at)])
    print_rows(None, rows, title=f"{credential.name} ({credential.type})")
