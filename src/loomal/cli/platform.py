"""``loomal platform``: provision identities over the platform API with a platform
key, the official CLI's commands (``list``, ``get``, ``create``, ``delete``,
``rotate-key``, ``update-scopes``) and options, as a client of a running server.

The key: ``--api-key``, else ``LOOMAL_PLATFORM_KEY``, else ``LOOMAL_API_KEY``
(where the official CLI reads every key from, so its scripts run unchanged).
``--api-key`` and ``--base-url`` may be given before or after the command name,
as the official CLI allows. A new key is the last line printed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from loomal.cli.common import reports_errors
from loomal.cli.output import echo_json, print_rows, when
from loomal.client import LoomalPlatform
from loomal.core.platform_models import CreateIdentityResponse, IdentitySummary

__all__ = ["platform"]

F = TypeVar("F", bound=Callable[..., Any])


def _key_options(func: F) -> F:
    func = click.option(
        "--base-url",
        envvar=["LOOMAL_API_URL", "LOOMAL_BASE_URL"],
        help="Server URL [env LOOMAL_API_URL; default http://127.0.0.1:8470].",
    )(func)
    func = click.option(
        "--api-key",
        help="Platform key, lopk-... [env LOOMAL_PLATFORM_KEY, else LOOMAL_API_KEY].",
    )(func)
    return func


def _client(ctx: click.Context, api_key: str | None, base_url: str | None) -> LoomalPlatform:
    """A command's own --api-key/--base-url win over the group's, then the environment."""
    group: dict[str, Any] = (ctx.parent.obj if ctx.parent else None) or {}
    key = (
        api_key
        or group.get("api_key")
        or os.environ.get("LOOMAL_PLATFORM_KEY")
        or os.environ.get("LOOMAL_API_KEY")
    )
    return LoomalPlatform(api_key=key, base_url=base_url or group.get("base_url"))


def _scopes(value: str | None) -> list[str] | None:
    return None if value is None else [s.strip() for s in value.split(",") if s.strip()]


@click.group()
@_key_options
@click.pass_context
def platform(ctx: click.Context, api_key: str | None, base_url: str | None) -> None:
    """Provision identities with a platform key (lopk-...; make one on the server host
    with `loomal platform-key create NAME`)."""
    ctx.obj = {"api_key": api_key, "base_url": base_url}


def _print_identities(identities: list[IdentitySummary]) -> None:
    rows = [
        [
            i.identity_id,
            i.name,
            i.email or "-",
            ", ".join(i.scopes),
            str(i.usage_count),
            when(i.created_at),
        ]
        for i in identities
    ]
    print_rows(["ID", "Name", "Email", "Scopes", "Usage", "Created"], rows)


@platform.command("list")
@click.option("--limit", type=click.IntRange(1, 100), default=50, show_default=True)
@click.option("--page-token", help="nextPageToken of the previous page.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@_key_options
@click.pass_context
@reports_errors
def list_(
    ctx: click.Context,
    limit: int,
    page_token: str | None,
    as_json: bool,
    api_key: str | None,
    base_url: str | None,
) -> None:
    """List identities, one page (the next page's token is printed after it)."""
    with _client(ctx, api_key, base_url) as client:
        page = client.identities.list(limit=limit, page_token=page_token)
    if as_json:
        echo_json(page)
        return
    if not page.identities:
        click.echo("No identities found.")
        return
    _print_identities(page.identities)
    if page.next_page_token:
        click.echo(f"More: --page-token {page.next_page_token}")


@platform.command()
@click.argument("identity_id")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@_key_options
@click.pass_context
@reports_errors
def get(
    ctx: click.Context,
    identity_id: str,
    as_json: bool,
    api_key: str | None,
    base_url: str | None,
) -> None:
    """Show one identity."""
    with _client(ctx, api_key, base_url) as client:
        detail = client.identities.get(identity_id)
    if as_json:
        echo_json(detail)
        return
    rows = [
        ["Identity ID", detail.identity_id],
        ["Name", detail.name],
        ["Email", detail.email or "-"],
        ["Type", detail.type],
        ["Purpose", detail.purpose],
        ["Scopes", ", ".join(detail.scopes)],
        ["API Key Prefix", detail.api_key_prefix],
        ["Usage", str(detail.usage_count)],
        ["Last used", when(detail.last_used_at)],
        ["Created", when(detail.created_at)],
    ]
    print_rows(["Field", "Value"], rows)


def _print_new_key(created: CreateIdentityResponse | None, raw_key: str, what: str) -> None:
    click.echo(what)
    if created is not None:
        click.echo(f"  Identity ID: {created.identity_id}")
        click.echo(f"  Scopes: {', '.join(created.scopes)}")
    click.echo("API key (shown only this once):", err=True)
    click.echo(raw_key)


@platform.command()
@click.option("--name", help="Display name [default: a fresh readable slug].")
@click.option("--email", "email_name", help="Email prefix: accepted and ignored (no mail here).")
@click.option(
    "--scopes",
    help="Comma-separated: vault:read, vault:write, vault:use, vault:approve "
    "[default: vault:read,vault:write].",
)
@click.option("--purpose", type=click.Choice(["BUYER", "SELLER"]), help="Stored [default: BUYER].")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON (with the key).")
@_key_options
@click.pass_context
@reports_errors
def create(
    ctx: click.Context,
    name: str | None,
    email_name: str | None,
    scopes: str | None,
    purpose: str | None,
    as_json: bool,
    api_key: str | None,
    base_url: str | None,
) -> None:
    """Create an identity; its API key is the last line printed."""
    with _client(ctx, api_key, base_url) as client:
        created = client.identities.create(
            purpose=purpose, name=name, email_name=email_name, scopes=_scopes(scopes)
        )
    if as_json:
        echo_json(created)
        return
    _print_new_key(created, created.raw_key, f'Created identity "{created.name}"')


@platform.command()
@click.argument("identity_id")
@_key_options
@click.pass_context
@reports_errors
def delete(ctx: click.Context, identity_id: str, api_key: str | None, base_url: str | None) -> None:
    """Delete an identity, its keys and its credentials."""
    with _client(ctx, api_key, base_url) as client:
        client.identities.delete(identity_id)
    click.echo(f"Deleted identity {identity_id}")


@platform.command("rotate-key")
@click.argument("identity_id")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON (with the key).")
@_key_options
@click.pass_context
@reports_errors
def rotate_key(
    ctx: click.Context,
    identity_id: str,
    as_json: bool,
    api_key: str | None,
    base_url: str | None,
) -> None:
    """Give an identity a new API key (the last line printed); the old one stops working."""
    with _client(ctx, api_key, base_url) as client:
        rotated = client.identities.rotate_key(identity_id)
    if as_json:
        echo_json(rotated)
        return
    _print_new_key(None, rotated.raw_key, f"Rotated key for {identity_id}")


@platform.command("update-scopes")
@click.argument("identity_id")
@click.option("--add", help="Comma-separated scopes to add.")
@click.option("--remove", help="Comma-separated scopes to remove.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@_key_options
@click.pass_context
@reports_errors
def update_scopes(
    ctx: click.Context,
    identity_id: str,
    add: str | None,
    remove: str | None,
    as_json: bool,
    api_key: str | None,
    base_url: str | None,
) -> None:
    """Add or remove scopes of an identity."""
    with _client(ctx, api_key, base_url) as client:
        updated = client.identities.update_scopes(identity_id, _scopes(add), _scopes(remove))
    if as_json:
        echo_json(updated)
        return
    click.echo(f"Updated scopes for {identity_id}")
    click.echo(f"  Scopes: {', '.join(updated.scopes)}")
