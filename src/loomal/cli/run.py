"""``loomal run --env VAR=NAME.FIELD -- CMD ...``: run a command with secrets in
its environment only (nothing written to disk), like ``op run``."""

from __future__ import annotations

import os
import subprocess
import sys

import click

from loomal.cli.common import fail, reports_errors
from loomal.cli.vault import client_options
from loomal.client import Loomal
from loomal.core.models import Credential
from loomal.core.types import TOTP_REDACTED
from loomal.errors import ValidationError

__all__ = ["COMMAND_NOT_EXECUTABLE", "COMMAND_NOT_FOUND", "run"]

COMMAND_NOT_FOUND = 127
COMMAND_NOT_EXECUTABLE = 126
"""The exit codes a POSIX shell gives when it cannot start a command."""


def _split_reference(reference: str) -> tuple[str, str | None]:
    """``stripe.key`` → ("stripe", "key"); names may hold dots, so split at the last one.
    A bare name is allowed when the credential has a single data field."""
    name, dot, field = reference.rpartition(".")
    return (name, field) if dot and name else (reference, None)


def _start_failure(program: str, exc: OSError) -> tuple[str, int]:
    """The message and exit code a shell gives when it cannot start ``program``."""
    if isinstance(exc, FileNotFoundError):
        if "/" in program and os.path.exists(program):  # its #! interpreter is missing
            return f"cannot execute {program}: bad interpreter", COMMAND_NOT_EXECUTABLE
        return f"command not found: {program}", COMMAND_NOT_FOUND
    # found, but a directory, without the execute bit, or not a program
    return f"cannot execute {program}: {exc.strerror}", COMMAND_NOT_EXECUTABLE


def _value(client: Loomal, var: str, credential: Credential, field: str | None) -> str:
    """The string ``--env VAR=NAME.FIELD`` sets. A TOTP seed is never handed out (the
    API withholds it), so ``.totp`` (or the seed's own field) sets the current code,
    and stderr says how long that code stays valid."""
    name, data = credential.name, credential.data
    if field is None:
        if len(data) != 1:
            raise ValidationError(f"--env {var}: {name} has several fields; name one.")
        (field,) = data
    if field in data:
        value = data[field]
    elif field == "totp" and credential.has_totp:  # a TOTP credential's seed is data.secret
        value = TOTP_REDACTED
    elif field == "totp":
        raise ValidationError(f"--env {var}: {name} has no TOTP seed, so no code to set.")
    else:
        raise ValidationError(f"--env {var}: {name} has no data field {field!r}.")
    if value == TOTP_REDACTED:
        code = client.vault.totp(name)
        click.echo(
            f"{var}: the current TOTP code of {name}, valid {code.remaining}s more.", err=True
        )
        return code.code
    if not isinstance(value, str):
        raise ValidationError(f"--env {var}: {name}.{field} is not a string.")
    return value


@click.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "--env",
    "mappings",
    multiple=True,
    required=True,
    metavar="VAR=NAME.FIELD",
    help="Set VAR to data.FIELD of credential NAME (repeatable); NAME.totp sets its "
    "current TOTP code.",
)
@client_options
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@reports_errors
def run(
    mappings: tuple[str, ...], api_key: str | None, base_url: str | None, command: tuple[str, ...]
) -> None:
    """Run COMMAND with credentials in its environment; exits with its exit code
    (127: COMMAND not found, 126: not executable, 128+N: killed by signal N)."""
    wanted: list[tuple[str, str, str | None]] = []
    for mapping in mappings:
        var, eq, reference = mapping.partition("=")
        if not eq or not var or not reference:
            raise click.UsageError(f"--env {mapping!r}: expected VAR=NAME.FIELD.")
        wanted.append((var, *_split_reference(reference)))
    env = dict(os.environ)
    with Loomal(api_key=api_key, base_url=base_url) as client:
        fetched: dict[str, Credential] = {}
        for var, name, field in wanted:
            if name not in fetched:
                fetched[name] = client.vault.get(name)
            env[var] = _value(client, var, fetched[name], field)
    try:
        completed = subprocess.run(list(command), env=env, check=False)
    except OSError as exc:
        fail(*_start_failure(command[0], exc))
        raise  # unreachable: fail() exits
    code = completed.returncode
    sys.exit(code if code >= 0 else 128 - code)
