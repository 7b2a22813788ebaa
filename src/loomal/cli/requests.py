"""``loomal requests list|show|fulfill|decline`` (a person answering agents' asks)
and ``loomal vault request NAME`` (an agent asking), as clients of a running
server. Every rule is the server's; these parse, call ``loomal.requests``, print."""

from __future__ import annotations

from typing import Any

import click

from loomal.cli.common import reports_errors
from loomal.cli.output import echo_json, echo_listing, echo_result
from loomal.cli.vault import _read_json_option, client_of, client_options
from loomal.core.access_request_models import AccessRequest

__all__ = ["request_credential", "requests"]


@click.group()
@client_options
@click.pass_context
def requests(ctx: click.Context, api_key: str | None, base_url: str | None) -> None:
    """Answer agents' requests for credentials they lack."""
    ctx.obj = {"api_key": api_key, "base_url": base_url}


def _line(asked: AccessRequest) -> str:
    """One request on one line; the agent's reason is quoted, its line breaks shown as
    ``\\n`` so it cannot forge lines of this output."""
    when = asked.created_at.strftime("%Y-%m-%d %H:%M:%SZ")
    reason = asked.reason.replace("\r", "\\r").replace("\n", "\\n")
    return (
        f"{asked.request_id}  {asked.status:<9}  {asked.name} ({asked.type})  "
        f"asked by {asked.requested_by} at {when}: {reason!r}"
    )


def _show(asked: AccessRequest) -> None:
    click.echo(_line(asked))
    if asked.allowed_hosts:  # where a fulfilment sends the secret unless --metadata says
        click.echo(
            "allowed hosts (the agent's choice): " + ", ".join(map(repr, asked.allowed_hosts))
        )
    if asked.status == "pending":
        click.echo(f"answer it at {asked.url}")


@requests.command("list")
@click.option(
    "--status",
    type=click.Choice(["pending", "fulfilled", "declined", "expired"]),
    help="Only requests in this state [default: all, pending first].",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@reports_errors
def list_requests(ctx: click.Context, status: str | None, as_json: bool) -> None:
    """List the identity's requests (GET /v0/requests)."""
    with client_of(ctx) as client:
        listed = client.requests.list(status=status)
    echo_listing(listed, listed.requests, _line, as_json=as_json, empty="No requests.")


@requests.command()
@click.argument("request_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@reports_errors
def show(ctx: click.Context, request_id: str, as_json: bool) -> None:
    """Show REQUEST_ID: who asked, for what, why, and its status (never a secret)."""
    with client_of(ctx) as client:
        asked = client.requests.get(request_id)
    echo_result(asked, _show, as_json=as_json)


@requests.command()
@click.argument("request_id")
@click.option("--data", required=True, help="Secret fields as JSON, @file, or - for stdin.")
@click.option("--metadata", help="Non-secret fields as JSON (or @file) [default: the asked hosts].")
@click.option("--expires-at", help="ISO 8601 expiry.")
@click.option(
    "--replace",
    "replace_version",
    type=click.IntRange(min=1),
    help="The name is held: replace exactly this version of it.",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@reports_errors
def fulfill(
    ctx: click.Context,
    request_id: str,
    data: str,
    metadata: str | None,
    expires_at: str | None,
    replace_version: int | None,
    as_json: bool,
) -> None:
    """Store the credential REQUEST_ID asks for (vault:write)."""
    secret = _read_json_option("--data", data)
    meta = _read_json_option("--metadata", metadata) if metadata else None
    with client_of(ctx) as client:
        asked = client.requests.fulfill(
            request_id,
            secret,
            metadata=meta,
            expires_at=expires_at,
            replace_version=replace_version,
        )
    echo_result(asked, _show, as_json=as_json)


@requests.command()
@click.argument("request_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@reports_errors
def decline(ctx: click.Context, request_id: str, as_json: bool) -> None:
    """Decline REQUEST_ID (vault:write or vault:approve)."""
    with client_of(ctx) as client:
        asked = client.requests.decline(request_id)
    echo_result(asked, _show, as_json=as_json)


@click.command("request")
@click.argument("name")
@click.option("--type", "ctype", required=True, help="LOGIN, API_KEY, ... CUSTOM (any case).")
@click.option("--reason", required=True, help="Why the credential is needed (plain text).")
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    help="A host the credential may be sent to (repeat for more).",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@reports_errors
def request_credential(
    ctx: click.Context, name: str, ctype: str, reason: str, allowed_hosts: Any, as_json: bool
) -> None:
    """Ask a person for credential NAME, which this identity lacks (POST /v0/requests)."""
    hosts = list(allowed_hosts) or None
    with client_of(ctx) as client:
        created = client.requests.create(name, ctype.upper(), reason, allowed_hosts=hosts)
    if as_json:
        echo_json(created)
        return
    click.echo(f"asked: {created.request_id} (pending until {created.expires_at:%Y-%m-%d %H:%MZ})")
    click.echo(f"a person answers at {created.url}")
    click.echo(f"check with: loomal requests show {created.request_id}")
