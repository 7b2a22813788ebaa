"""``loomal vault``: the seed's commands, as a client of a running server.

Reads ``LOOMAL_API_KEY`` and ``LOOMAL_API_URL`` (alias ``LOOMAL_BASE_URL``), or
--api-key / --base-url.
Secret input can come from a file (``--data @file``) or stdin (``--data -``) so
that it never sits in shell history.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import msgspec

from loomal.cli.common import reports_errors
from loomal.cli.output import echo_json, echo_raw, pick_field, print_credential, print_summaries
from loomal.client import Loomal
from loomal.core.totp import parse_otpauth_uri
from loomal.errors import PreconditionFailedError, ValidationError

__all__ = ["client_of", "client_options", "output", "vault", "whoami"]


def client_options(func: Any) -> Any:
    func = click.option(
        "--base-url",
        envvar=["LOOMAL_API_URL", "LOOMAL_BASE_URL"],
        help="Server URL [env LOOMAL_API_URL; default http://127.0.0.1:8470].",
    )(func)
    func = click.option(
        "--api-key", envvar="LOOMAL_API_KEY", help="API key (prefer LOOMAL_API_KEY)."
    )(func)
    return func


@click.group()
@client_options
@click.pass_context
def vault(ctx: click.Context, api_key: str | None, base_url: str | None) -> None:
    """Store and fetch credentials (needs LOOMAL_API_KEY)."""
    ctx.obj = {"api_key": api_key, "base_url": base_url}


def client_of(ctx: click.Context) -> Loomal:
    options: dict[str, Any] = next(
        (c.obj for c in (ctx, ctx.parent) if c is not None and c.obj), {}
    )
    return Loomal(api_key=options.get("api_key"), base_url=options.get("base_url"))


def _read_json_option(option: str, value: str) -> dict[str, Any]:
    if value == "-":
        text = sys.stdin.read()
    elif value.startswith("@"):
        try:
            text = Path(value[1:]).read_text("utf-8")
        except OSError as exc:
            raise ValidationError(f"{option}: cannot read {value[1:]}: {exc.strerror}.") from None
    else:
        text = value
    try:
        parsed = msgspec.json.decode(text)
    except msgspec.DecodeError:
        raise ValidationError(f"{option} is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise ValidationError(f"{option} must be a JSON object.")
    return parsed


def output(result: Any, as_json: bool, field: str | None) -> bool:
    """Handle --field and --json; returns False when the caller should print for people."""
    if field:
        echo_raw(pick_field(result, field))
        return True
    if as_json:
        echo_json(result)
        return True
    return False


@vault.command()
@click.argument("name")
@click.option(
    "--type", "ctype", help="LOGIN, API_KEY, OAUTH, TOTP, SSH_KEY, DATABASE, ... CUSTOM (any case)"
)
@click.option("--data", help="Secret fields as JSON, @file, or - for stdin.")
@click.option("--metadata", help="Non-secret fields as JSON (or @file).")
@click.option("--expires-at", help="ISO 8601 expiry.")
@click.option("--otpauth", help="otpauth://totp/... URI from an authenticator export.")
@click.option("--backup-codes", help="Comma-separated backup codes (with --otpauth).")
@click.option(
    "--no-overwrite", is_flag=True, help="Only create: refuse if NAME exists (nothing written)."
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@reports_errors
def store(
    ctx: click.Context,
    name: str,
    ctype: str | None,
    data: str | None,
    metadata: str | None,
    expires_at: str | None,
    otpauth: str | None,
    backup_codes: str | None,
    no_overwrite: bool,
    as_json: bool,
) -> None:
    """Store credential NAME: create it, or replace it (says which)."""
    ctype = None if ctype is None else ctype.upper()  # api_key as API_KEY, as people type it
    meta = _read_json_option("--metadata", metadata) if metadata else None
    if otpauth is not None:
        if data is not None or (ctype not in (None, "TOTP")):
            raise click.UsageError("--otpauth makes a TOTP credential; drop --data and --type.")
        uri = parse_otpauth_uri(otpauth)
        secret_data: dict[str, Any] = {"secret": uri.secret}
        if backup_codes:
            secret_data["backupCodes"] = [c.strip() for c in backup_codes.split(",") if c.strip()]
        ctype, meta = "TOTP", {**uri.metadata(), **(meta or {})}
    else:
        if ctype is None or data is None:
            raise click.UsageError("--type and --data are required (or use --otpauth).")
        secret_data = _read_json_option("--data", data)
    with client_of(ctx) as client:
        try:
            stored = client.vault.store(
                name,
                ctype,
                secret_data,
                meta,
                expires_at,
                if_none_match="*" if no_overwrite else None,
            )
        except PreconditionFailedError as exc:
            if exc.reason != "exists":
                raise
            raise PreconditionFailedError(
                f"{name} exists already; nothing was stored (--no-overwrite). "
                "Drop --no-overwrite to replace it.",
                reason=exc.reason,
            ) from None
    if stored.expires_at is not None and stored.expires_at <= datetime.now(UTC):
        click.echo(
            f"warning: --expires-at {expires_at} is already past: {name} is stored expired "
            "(get, totp and backup codes answer 410 until it is stored again).",
            err=True,
        )
    if not output(stored, as_json, None):
        if stored.version == 1:
            click.echo(f"Created {stored.name} ({stored.type}, {stored.credential_id}).")
        else:
            click.echo(
                f"Replaced {stored.name} ({stored.type}, {stored.credential_id}; "
                f"now version {stored.version})."
            )


@vault.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.option("--field", help="Print one value, e.g. data.key (raw, for piping).")
@click.option(
    "--version", "version", type=click.IntRange(min=1), help="A kept version (see history)."
)
@click.pass_context
@reports_errors
def get(
    ctx: click.Context, name: str, as_json: bool, field: str | None, version: int | None
) -> None:
    """Show credential NAME with its decrypted data."""
    with client_of(ctx) as client:
        credential = client.vault.get(name, version=version)
    if not output(credential, as_json, field):
        print_credential(credential)


@vault.command("list")
@click.option("--limit", type=click.IntRange(1, 1000), help="Show one page of this size.")
@click.option("--cursor", help="Continue from a page's nextCursor (with --limit).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@reports_errors
def list_(ctx: click.Context, limit: int | None, cursor: str | None, as_json: bool) -> None:
    """List credentials (metadata only, never secrets)."""
    with client_of(ctx) as client:
        if limit is not None:
            page = client.vault.list(limit=limit, cursor=cursor)
            if not output(page, as_json, None):
                print_summaries(page.credentials)
                if page.next_cursor:
                    click.echo(f"next page: --cursor {page.next_cursor}")
            return
        everything = client.vault.list()
    if not output(everything, as_json, None):  # the API's {"credentials", "count"}
        print_summaries(everything.credentials)


@vault.command()
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--destroy", is_flag=True, help="Remove it and every version now (cannot be undeleted)."
)
@click.pass_context
@reports_errors
def delete(ctx: click.Context, name: str, yes: bool, destroy: bool) -> None:
    """Delete credential NAME (recoverable with `loomal vault undelete` for the
    server's retention period, 30 days by default, unless --destroy)."""
    if not yes and sys.stdin.isatty():
        what = "Destroy credential {} and every version" if destroy else "Delete credential {}"
        click.confirm(what.format(name) + "?", abort=True)
    with client_of(ctx) as client:
        client.vault.delete(name, destroy=destroy)
    if destroy:
        click.echo(f"Destroyed {name} and every version of it.")
    else:
        click.echo(f"Deleted {name} (recoverable: loomal vault undelete {name}).")


@vault.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.option("--field", help="Print one value, e.g. code.")
@click.pass_context
@reports_errors
def totp(ctx: click.Context, name: str, as_json: bool, field: str | None) -> None:
    """Print the current TOTP code of NAME and how long it stays valid."""
    with client_of(ctx) as client:
        code = client.vault.totp(name)
    if not output(code, as_json, field):
        click.echo(
            f"{code.code}  (valid {code.remaining}s more; "
            f"{_backup_codes_left(code.backup_codes_remaining)})"
        )


@vault.command("totp-use-backup")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@reports_errors
def totp_use_backup(ctx: click.Context, name: str, as_json: bool) -> None:
    """Consume one backup code of NAME (atomically) and print it."""
    with client_of(ctx) as client:
        backup = client.vault.totp_use_backup(name)
    if not output(backup, as_json, None):
        click.echo(backup.code)
        click.echo(f"{_backup_codes_left(backup.remaining)}.", err=True)


def _backup_codes_left(count: int) -> str:
    return f"{count} backup code{'' if count == 1 else 's'} left"


def _read_data(value: str) -> str:
    """``-d`` as curl reads it: text, ``@file``, or ``-`` for stdin."""
    if value == "-":
        return sys.stdin.read()
    if value.startswith("@"):
        try:
            return Path(value[1:]).read_text("utf-8")
        except OSError as exc:
            raise ValidationError(f"-d: cannot read {value[1:]}: {exc.strerror}.") from None
    return value


@vault.command()
@click.argument("name")
@click.argument("url")
@click.option("-X", "--request", "method", help="HTTP method [default: GET, or POST with -d].")
@click.option("-H", "--header", "headers", multiple=True, metavar="'K: V'", help="Extra header.")
@click.option("-d", "--data", help="Request body: text, @file, or - for stdin.")
@click.option("-i", "--include", is_flag=True, help="Print the status line and headers first.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole answer as JSON.")
@click.option(
    "--approval", "approval_id", help="The approval a person gave this request (after a 202)."
)
@click.option(
    "--reason", help="Why, for the person a rule may ask to approve it (plain text, ≤ 500)."
)
@click.pass_context
@reports_errors
def fetch(
    ctx: click.Context,
    name: str,
    url: str,
    method: str | None,
    headers: tuple[str, ...],
    data: str | None,
    include: bool,
    as_json: bool,
    approval_id: str | None,
    reason: str | None,
) -> None:
    """Request URL with credential NAME injected by the server; the secret never
    reaches this machine (needs vault:use, and URL's host in the credential's
    metadata.allowedHosts). Prints the answer's body, like curl."""
    extra: dict[str, str] = {}
    for header in headers:
        key, colon, value = header.partition(":")
        if not colon or not key.strip():
            raise click.UsageError(f"-H {header!r}: expected 'Name: value'.")
        extra[key.strip()] = value.strip()
    body = _read_data(data) if data is not None else None
    with client_of(ctx) as client:
        answer = client.vault.fetch(
            name,
            method=method or ("POST" if body is not None else "GET"),
            url=url,
            headers=extra,
            body=body,
            approval_id=approval_id,
            reason=reason,
        )
    if output(answer, as_json, None):
        return
    if include:
        click.echo(f"HTTP {answer.status}")
        for key, value in answer.headers.items():
            click.echo(f"{key}: {value}")
        click.echo()
    sys.stdout.buffer.write(answer.content())
    sys.stdout.flush()


@click.command()
@client_options
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@reports_errors
def whoami(ctx: click.Context, api_key: str | None, base_url: str | None, as_json: bool) -> None:
    """Show the identity of the API key in use (GET /v0/whoami)."""
    with Loomal(api_key=api_key, base_url=base_url) as client:
        me = client.identity.whoami()
    if not output(me, as_json, None):
        click.echo(f"{me.name} ({me.identity_id})")
        click.echo(f"scopes: {' '.join(me.scopes)}")
        click.echo(f"requests: {me.usage_count}")
