"""What every ``loomal`` command shares: error reporting, server-side store options."""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click

from loomal.errors import LoomalError, MissingApiKeyError, ValidationError

if TYPE_CHECKING:  # the settings pull in the server's crypto; client commands never need them
    from loomal.config import ServerSettings
    from loomal.core.audit_actions import OperatorNote
    from loomal.core.store import Store

__all__ = [
    "ask_passphrase",
    "fail",
    "operator_name",
    "operator_session",
    "read_passphrase_file",
    "reports_errors",
    "run_async",
    "server_settings",
    "store_options",
]

P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def reports_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn any Loomal error into one line on stderr and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except MissingApiKeyError as exc:
            fail(exc.shell_hint)
            raise  # unreachable: fail() exits
        except LoomalError as exc:
            fail(exc.message)
            raise  # unreachable: fail() exits

    return wrapper


def run_async(coro: Coroutine[Any, Any, R]) -> R:
    return asyncio.run(coro)


def store_options(func: Callable[P, R]) -> Callable[P, R]:
    """``--data-dir`` / ``--database-url``: which store a server-side command uses."""
    func = click.option(
        "--database-url",
        envvar="LOOMAL_DATABASE_URL",
        help="postgresql://... to use PostgreSQL instead of the embedded SQLite file.",
    )(func)
    func = click.option(
        "--data-dir",
        envvar="LOOMAL_DATA_DIR",
        type=click.Path(file_okay=False),
        help="Where the SQLite file and the generated master key live [default: ./loomal-data].",
    )(func)
    return func


def server_settings(**flags: Any) -> ServerSettings:
    from loomal.config import ServerSettings

    return ServerSettings.load(flags)


def operator_name() -> str:
    """Who runs this server-host command, for the audit log: the OS user of the
    process (by its effective uid, not by a variable anyone may set), and under
    sudo the user who called sudo as well."""
    try:
        import pwd

        name = pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):  # no passwd entry (a container's arbitrary uid)
        name = f"uid {os.geteuid()}" if hasattr(os, "geteuid") else "unknown"
    caller = os.environ.get("SUDO_USER")
    return f"{name} (sudo by {caller})" if caller and caller != name else name


@asynccontextmanager
async def operator_session(
    settings: ServerSettings, action: str, store: Store | None = None
) -> AsyncIterator[OperatorNote]:
    """Audit the command's work as ``action`` by :func:`operator_name` (in ``store``,
    or a store opened for it)."""
    from loomal.core.audit_actions import operator_action
    from loomal.runtime import store_session

    if store is not None:
        async with operator_action(store, operator_name(), action) as note:
            yield note
        return
    async with (
        store_session(settings) as opened,
        operator_action(opened, operator_name(), action) as note,
    ):
        yield note


def read_passphrase_file(path: str) -> str:
    """The passphrase on the first line of ``path`` (``-``: standard input).

    Only the line ending is stripped: spaces may be part of a passphrase.
    """
    try:
        text = sys.stdin.readline() if path == "-" else Path(path).read_text("utf-8")
    except OSError as exc:
        raise ValidationError(
            f"Could not read the passphrase file {path}: {exc.strerror}"
        ) from None
    except UnicodeDecodeError:  # its text would quote a byte of the passphrase
        raise ValidationError(f"The passphrase file {path} is not UTF-8 text.") from None
    passphrase = text.splitlines()[0] if text else ""
    if not passphrase:
        raise ValidationError(f"The passphrase file {path} is empty.")
    return passphrase


def ask_passphrase(file: str | None, prompt: str, *, confirm: bool = False) -> str:
    """From ``file`` if given, else asked on the terminal without echo."""
    if file is not None:
        return read_passphrase_file(file)
    answer: str = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True)
    return answer
