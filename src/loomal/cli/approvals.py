"""``loomal approvals list|approve|deny``: a person's side of request rules, as a
client of a running server (``LOOMAL_API_KEY``: a key with vault:approve or
vault:write of the identity; never the agent's own key)."""

from __future__ import annotations

import json

import click

from loomal.cli.common import reports_errors
from loomal.cli.output import echo_listing, echo_result
from loomal.cli.vault import client_of, client_options
from loomal.core.approval_models import Approval

__all__ = ["approvals"]


@click.group()
@client_options
@click.pass_context
def approvals(ctx: click.Context, api_key: str | None, base_url: str | None) -> None:
    """Approve or deny brokered requests held by a credential's rules."""
    ctx.obj = {"api_key": api_key, "base_url": base_url}


def _line(approval: Approval) -> str:
    """One approval for people: what would be sent (never a body, only its size)."""
    when = approval.created_at.strftime("%Y-%m-%d %H:%M:%SZ")
    what = (
        f"reveal the secret ({approval.path})"
        if approval.kind == "reveal"
        else f"{approval.method} {approval.host}{approval.path}  {approval.body_size} B"
    )
    label = f" ({approval.requested_label})" if approval.requested_label else ""
    line = (
        f"{approval.approval_id}  {approval.status:<8}  {approval.credential_name}  "
        f"{what}  asked by {approval.requested_by}{label} at {when}"
    )
    if approval.reason:  # the agent's words, quoted (the server refused control characters)
        line += f"\n    reason: {json.dumps(approval.reason, ensure_ascii=False)}"
    return line


def _show(approval: Approval) -> None:
    click.echo(_line(approval))
    if approval.window_until is not None:  # only an approval with a window has one
        click.echo(
            f"the same rule needs no approval until {approval.window_until:%Y-%m-%d %H:%M:%SZ}"
        )


@approvals.command("list")
@click.option(
    "--status",
    type=click.Choice(["pending", "approved", "denied", "used", "expired"]),
    help="Only approvals in this state [default: all, pending first].",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@reports_errors
def list_approvals(ctx: click.Context, status: str | None, as_json: bool) -> None:
    """List the identity's approvals (GET /v0/approvals)."""
    with client_of(ctx) as client:
        listed = client.approvals.list(status=status)
    echo_listing(listed, listed.approvals, _line, as_json=as_json, empty="No approvals.")


@approvals.command()
@click.argument("approval_id")
@click.option(
    "--window",
    "window_seconds",
    type=click.IntRange(0, 30 * 86400),
    help="Also let the same rule through for this many seconds [default: the rule's].",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@reports_errors
def approve(
    ctx: click.Context, approval_id: str, window_seconds: int | None, as_json: bool
) -> None:
    """Approve APPROVAL_ID: the agent's identical request then goes through once."""
    with client_of(ctx) as client:
        approval = client.approvals.approve(approval_id, window_seconds=window_seconds)
    echo_result(approval, _show, as_json=as_json)


@approvals.command()
@click.argument("approval_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@reports_errors
def deny(ctx: click.Context, approval_id: str, as_json: bool) -> None:
    """Deny APPROVAL_ID: the agent's request is refused (403 approval_denied)."""
    with client_of(ctx) as client:
        approval = client.approvals.deny(approval_id)
    echo_result(approval, _show, as_json=as_json)
