"""``loomal identity``: create, list, revoke identities and their API keys.

Runs on the server host against the same store as ``loomal serve`` (the same
``--data-dir`` / ``--database-url``); a running server sees the change at once
(revocations within its auth-cache bound). Needs no master key: identities
hold no encrypted data. Every change is audited with the OS user who ran it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
import msgspec

from loomal.cli.common import (
    operator_session,
    reports_errors,
    run_async,
    server_settings,
    store_options,
)
from loomal.cli.tables import make_table, print_table
from loomal.console.sessions import LOGIN_LINK_TTL, ConsoleSessions
from loomal.core.audit import AuditLog
from loomal.core.audit_actions import OperatorNote
from loomal.core.identities import IdentityService
from loomal.core.models import ApiKeyInfo, IdentityCreated, IdentityInfo
from loomal.core.platform_models import PLATFORM_KEY_PREFIX
from loomal.core.principals import KEY_PREFIX, key_display_prefix
from loomal.core.timestamps import parse_iso8601
from loomal.runtime import store_session

__all__ = ["identity"]


T = TypeVar("T")


async def _with_identities(settings_flags: dict[str, Any], action: Any) -> Any:
    async with store_session(server_settings(**settings_flags)) as store:
        return await action(IdentityService(store, cache_seconds=0, audit=AuditLog(store)))


async def _audited(
    settings_flags: dict[str, Any],
    action_name: str,
    work: Callable[[IdentityService, OperatorNote], Awaitable[T]],
) -> T:
    """Run ``work`` on the identities, audited as ``action_name`` by this OS user."""
    settings = server_settings(**settings_flags)
    async with (
        store_session(settings) as store,
        operator_session(settings, action_name, store) as note,
    ):
        return await work(IdentityService(store, cache_seconds=0, audit=AuditLog(store)), note)


def _issued(
    issue: Callable[[IdentityService], Awaitable[IdentityCreated]],
) -> Callable[[IdentityService, OperatorNote], Awaitable[IdentityCreated]]:
    """``issue`` (a key-making call), noting the new key for the audit log."""

    async def work(ids: IdentityService, note: OperatorNote) -> IdentityCreated:
        created = await issue(ids)
        note.identity_id = created.identity_id
        note.key_prefix = key_display_prefix(created.api_key)
        note.key_label = created.label
        note.detail = f"name={created.name} scopes={' '.join(created.scopes)}"
        return created

    return work


_scopes_option = click.option(
    "--scopes",
    default="vault:read,vault:write",
    show_default=True,
    help="Comma-separated: vault:read, vault:write, vault:use (use without reading secrets), "
    "vault:approve (decide approvals).",
)


_label_option = click.option(
    "--label",
    help="Who holds the key (e.g. billing-bot): shown beside its prefix in lists, the "
    "console and the audit log.",
)


def _expiry(value: str | None) -> int | None:
    return None if value is None else parse_iso8601(value, field="--expires-at")


@click.group()
def identity() -> None:
    """Manage identities and API keys (run on the server host)."""


def _print_created(created: IdentityCreated, as_json: bool) -> None:
    if as_json:
        click.echo(msgspec.json.encode(created).decode())
        return
    label = f", label: {created.label}" if created.label else ""
    click.echo(
        f"Identity {created.name} ({created.identity_id}), scopes: {' '.join(created.scopes)}"
        + label
    )
    click.echo("API key (shown only this once):", err=True)
    click.echo(created.api_key)


def _new_key_options(func: Callable[..., None]) -> Callable[..., None]:
    """``create`` and ``add-key`` issue a key the same way, so they take the same options."""
    for option in (
        reports_errors,
        store_options,
        click.option("--json", "as_json", is_flag=True, help="Print a JSON object."),
        _label_option,
        click.option("--expires-at", help="ISO 8601 time after which the key stops working."),
        _scopes_option,
    ):
        func = option(func)
    return func


def _new_key(
    action_name: str,
    issue: Callable[..., Awaitable[IdentityCreated]],
    name: str,
    *,
    scopes: str,
    expires_at: str | None,
    label: str | None,
    as_json: bool,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """A new key for ``name`` from ``issue`` (an IdentityService method), audited."""
    expiry = _expiry(expires_at)
    created = run_async(
        _audited(
            {"data_dir": data_dir, "database_url": database_url},
            action_name,
            _issued(
                lambda ids: issue(
                    ids, name, scopes=scopes.split(","), expires_at=expiry, label=label
                )
            ),
        )
    )
    _print_created(created, as_json)


@identity.command("create")
@click.argument("name")
@_new_key_options
def create(name: str, **options: Any) -> None:
    """Create identity NAME with a first API key; the key is the last line printed."""
    _new_key("identity_create", IdentityService.create_identity, name, **options)


@identity.command("add-key")
@click.argument("name")
@_new_key_options
def add_key(name: str, **options: Any) -> None:
    """Issue another API key for identity NAME (e.g. to rotate without downtime)."""
    _new_key("identity_add_key", IdentityService.add_key, name, **options)


@identity.command("rotate-key")
@click.argument("name")
@_scopes_option
@click.option(
    "--grace-seconds",
    type=float,
    default=0,
    show_default=True,
    help="How long the old keys keep working (0: they stop at once).",
)
@click.option("--label", help="The new key's label [default: the label of the newest live key].")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@store_options
@reports_errors
def rotate_key(
    name: str,
    scopes: str,
    grace_seconds: float,
    label: str | None,
    as_json: bool,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Issue a new key for NAME and retire its other keys after a grace period."""
    created = run_async(
        _audited(
            {"data_dir": data_dir, "database_url": database_url},
            "identity_rotate_key",
            _issued(
                lambda ids: ids.rotate_key(
                    name, scopes=scopes.split(","), grace_seconds=grace_seconds, label=label
                )
            ),
        )
    )
    _print_created(created, as_json)


@identity.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@store_options
@reports_errors
def list_(as_json: bool, data_dir: str | None, database_url: str | None) -> None:
    """List identities and their keys (prefixes only)."""
    infos: list[IdentityInfo] = run_async(
        _with_identities(
            {"data_dir": data_dir, "database_url": database_url},
            lambda ids: ids.list_identities(),
        )
    )
    if as_json:
        click.echo(msgspec.json.encode(infos).decode())
        return
    table = make_table(
        "identity",
        "id",
        "key",
        "label",
        "scopes",
        "created",
        "expires",
        "revoked",
        whole=("key",),
    )
    for info in infos:
        keys: list[ApiKeyInfo | None] = [*info.keys] or [None]
        for key in keys:
            table.add_row(
                info.name,
                info.identity_id,
                key.prefix + "…" if key else "-",
                (key.label or "-") if key else "-",
                " ".join(key.scopes) if key else "-",
                f"{info.created_at:%Y-%m-%d %H:%M}",
                f"{key.expires_at:%Y-%m-%d %H:%M}" if key and key.expires_at else "-",
                f"{key.revoked_at:%Y-%m-%d %H:%M}" if key and key.revoked_at else "-",
            )
    print_table(table)


_KEY_ELLIPSES = ("…", "...")
"""How ``identity list`` ends a key prefix, and how it is typed by hand."""


def _as_listed(target: str) -> str:
    """A key prefix pasted from ``identity list`` (``loid-hLUHdNZd…``) is the prefix
    without its ellipsis; anything else is passed on as typed. Keys are URL-safe
    base64, so no key or prefix ends in a dot or an ellipsis."""
    if target.startswith(KEY_PREFIX):
        for ellipsis in _KEY_ELLIPSES:
            if target.endswith(ellipsis):
                return target.removesuffix(ellipsis)
    return target


@identity.command("revoke")
@click.argument("target")
@store_options
@reports_errors
def revoke(target: str, data_dir: str | None, database_url: str | None) -> None:
    """Revoke TARGET: an identity name (all its keys), a key prefix as `identity list`
    shows it (loid-hLUHdNZd…, the ellipsis optional), or a whole key."""
    wanted = _as_listed(target)

    settings = server_settings(data_dir=data_dir, database_url=database_url)

    async def revoke_audited() -> int:
        async with (
            store_session(settings) as store,
            operator_session(settings, "identity_revoke", store) as note,
        ):
            if wanted.startswith((KEY_PREFIX, PLATFORM_KEY_PREFIX)):  # never a whole key
                note.detail = f"target={key_display_prefix(wanted)}"
            else:
                note.detail = f"target={wanted}"
                found = await store.get_identity(name=wanted)
                note.identity_id = found.identity_id if found else None
            count = await IdentityService(store, cache_seconds=0, audit=AuditLog(store)).revoke(
                wanted
            )
            note.detail += f" keys={count}"
            return count

    count = run_async(revoke_audited())
    click.echo(f"Revoked {count} API key(s).")


@identity.command("login-link")
@click.argument("name")
@click.option(
    "--scopes",
    help="Narrow the session to these scopes (e.g. vault:read). Default: whatever the "
    "identity's live keys grant, re-checked on every request.",
)
@click.option(
    "--expires-in",
    type=float,
    default=LOGIN_LINK_TTL,
    show_default=True,
    help="Seconds the link stays usable (it works once).",
)
@click.option(
    "--public-url",
    "--url",
    "public_url",
    help="The servers' address as browsers reach it, e.g. https://vault.example.com "
    "[env LOOMAL_PUBLIC_URL; default: this host's, from LOOMAL_HOST/LOOMAL_PORT].",
)
@store_options
@reports_errors
def login_link(
    name: str,
    scopes: str | None,
    expires_in: float,
    public_url: str | None,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Print a one-time, short-lived link that signs a browser into the console as NAME."""
    settings = server_settings(data_dir=data_dir, database_url=database_url, public_url=public_url)

    async def issue() -> str:
        async with (
            store_session(settings) as store,
            operator_session(settings, "identity_login_link", store) as note,
        ):
            note.detail = f"name={name} scopes={scopes or 'live keys'} ttl={expires_in:g}s"
            sessions = ConsoleSessions(
                store, IdentityService(store, cache_seconds=0, audit=AuditLog(store))
            )
            wanted = None if scopes is None else scopes.split(",")
            return await sessions.issue_login_link(name, scopes=wanted, ttl=expires_in)

    token = run_async(issue())
    if settings.public_url is None:
        click.echo(
            f"No public URL is set: this link points at {settings.local_url}, this host's "
            "address from LOOMAL_HOST/LOOMAL_PORT. Where browsers reach the servers "
            "elsewhere, set LOOMAL_PUBLIC_URL (or --public-url).",
            err=True,
        )
    click.echo(f"Sign-in link for {name}, valid once within {expires_in:g} s:", err=True)
    click.echo(f"{settings.browser_url}/login#{token}")
