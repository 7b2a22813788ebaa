"""``loomal vault oauth``: refresh, connect and status of OAUTH credentials, as a
client of a running server (the vault holds the client secret and refreshes; these
commands never print a token)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from loomal.cli.common import reports_errors
from loomal.cli.vault import client_of, output
from loomal.core.models import OAuthState
from loomal.errors import ValidationError

__all__ = ["oauth"]


@click.group()
def oauth() -> None:
    """OAUTH credentials the vault keeps alive: refresh, connect, status."""


def _print_state(state: OAuthState) -> None:
    expires = state.expires_at or "no stated expiry"
    click.echo(f"{state.name}: {state.oauth_status} (expires {expires}, version {state.version})")
    if state.oauth_status == "needs_reauth":
        click.echo(f"Connect it again: loomal vault oauth connect {state.name}", err=True)


@oauth.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@reports_errors
def refresh(ctx: click.Context, name: str, as_json: bool) -> None:
    """Refresh NAME's access token now (POST /v0/vault/NAME/oauth/refresh)."""
    with client_of(ctx) as client:
        state = client.vault.oauth_refresh(name)
    if not output(state, as_json, None):
        _print_state(state)


@oauth.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@reports_errors
def status(ctx: click.Context, name: str, as_json: bool) -> None:
    """Whether NAME's token is live, expired or needs a person to connect again."""
    with client_of(ctx) as client:
        state = client.vault.oauth_status(name)
    if not output(state, as_json, None):
        _print_state(state)


def _secret(value: str | None) -> str | None:
    if value is None:
        return None
    if value == "-":
        return sys.stdin.read().strip()
    if value.startswith("@"):
        try:
            return Path(value[1:]).read_text("utf-8").strip()
        except OSError as exc:
            raise ValidationError(
                f"--client-secret: cannot read {value[1:]}: {exc.strerror}."
            ) from None
    return value


@oauth.command()
@click.argument("name")
@click.option("--provider", help="google, microsoft, github, slack, salesforce or hubspot.")
@click.option("--client-id", help="The OAuth client's id (kept from NAME when omitted).")
@click.option(
    "--client-secret",
    help="The client secret: @file or - (stdin) keeps it out of shell history.",
)
@click.option("--scopes", help="Space-separated scopes.")
@click.option("--token-url", help="Token endpoint (instead of --provider).")
@click.option("--authorize-url", help="Authorization endpoint (instead of --provider).")
@click.option(
    "--auth-method", type=click.Choice(["client_secret_basic", "client_secret_post", "none"])
)
@click.option("--resource", help="RFC 8707 resource indicator.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@reports_errors
def connect(ctx: click.Context, /, name: str, as_json: bool, **options: Any) -> None:
    """Print the URL a person opens to connect NAME (PKCE; valid 10 minutes). The
    provider sends the browser back to the server's --public-url, which stores the
    tokens in NAME."""
    options["client_secret"] = _secret(options["client_secret"])
    settings = {k: v for k, v in options.items() if v is not None}
    with client_of(ctx) as client:
        started = client.vault.oauth_connect(name, **settings)
    if not output(started, as_json, None):
        click.echo("Open this URL in a browser within 10 minutes:", err=True)
        click.echo(started.authorize_url)
        click.echo(f"(the provider will return to {started.redirect_uri})", err=True)
