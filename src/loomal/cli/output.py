"""How the CLI shows results: rich tables for people, JSON for scripts, one raw
field for pipes. Secrets appear only where the user asked for a credential."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click
import msgspec
from rich.console import Console
from rich.table import Table

from loomal.core.models import Credential, CredentialSummary
from loomal.errors import ValidationError

__all__ = ["echo_json", "pick_field", "print_credential", "print_summaries"]


def to_builtins(value: Any) -> Any:
    return msgspec.to_builtins(value)


def echo_json(value: Any) -> None:
    click.echo(msgspec.json.encode(to_builtins(value)).decode())


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


def _when(value: Any) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M:%S}Z"


def print_summaries(items: Iterable[CredentialSummary]) -> None:
    table = Table("name", "type", "metadata", "updated", "last used", "expires")
    count = 0
    for item in items:
        count += 1
        meta = ", ".join(f"{k}={v}" for k, v in item.metadata.items())
        expires = _when(item.expires_at) + (" (expired)" if item.expired else "")
        table.add_row(
            item.name, item.type, meta, _when(item.updated_at), _when(item.last_used_at), expires
        )
    Console().print(table if count else "No credentials.")


def print_credential(credential: Credential) -> None:
    table = Table(show_header=False, title=f"{credential.name} ({credential.type})")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in credential.data.items():
        table.add_row(f"data.{key}", value if isinstance(value, str) else str(to_builtins(value)))
    for key, value in credential.metadata.items():
        table.add_row(f"metadata.{key}", str(value))
    table.add_row("credentialId", credential.credential_id)
    table.add_row("updated", _when(credential.updated_at))
    if credential.expires_at:
        table.add_row("expires", _when(credential.expires_at))
    Console().print(table)
