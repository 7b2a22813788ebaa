"""The console's pages, as escaped HTML strings (see :mod:`loomal.console.markup`).

No page holds a secret when it is first sent, except the one that answers
"Use a backup code" (the code is shown that once). Secrets reach the browser
only through the Reveal and TOTP calls, made by the script on demand. Controls
that change something are rendered only for sessions whose keys may write.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from loomal.console.fields import CREDENTIAL_TYPES
from loomal.console.markup import Html, join, render
from loomal.console.sessions import AnySession, ConsoleSession, PlatformConsoleSession
from loomal.core.data_outline import DataOutline
from loomal.core.models import CredentialSummary
from loomal.core.principals import Scope

__all__ = [
    "backup_code_page",
    "confirm_page",
    "credential_page",
    "credentials_page",
    "csrf_field",
    "layout",
    "message_page",
    "sign_in_page",
    "signed_in_page",
    "switch_page",
    "when",
]

EXPIRING_SOON = timedelta(days=7)


def layout(title: str, body: Html, session: AnySession | None = None) -> Html:
    header = Html("")
    if isinstance(session, PlatformConsoleSession):
        header = render(
            '<nav aria-label="Main"><a href="/identities">Identities</a></nav>'
            '<p class="who">Signed in with platform key <strong>{name}</strong> '
            '<span class="scopes">{prefix}…</span></p>'
            '<form method="post" action="/sign-out" class="inline">{csrf}'
            '<button type="submit" class="secondary">Sign out</button></form>',
            name=session.principal.name,
            prefix=session.principal.key_prefix,
            csrf=csrf_field(session),
        )
    elif session is not None:
        scopes = " ".join(sorted(s.value for s in session.principal.scopes))
        header = render(
            '<nav aria-label="Main"><a href="/credentials">Credentials</a>'
            '<a href="/approvals" id="approvals-link">Approvals{badge}</a>'
            '<a href="/requests">Requests</a><a href="/activity">Activity</a></nav>'
            '<p class="who">Signed in as <strong>{name}</strong> <span class="scopes">{scopes}'
            "</span></p>"
            '<form method="post" action="/sign-out" class="inline">{csrf}'
            '<button type="submit" class="secondary">Sign out</button></form>',
            name=session.identity_name,
            scopes=scopes,
            csrf=csrf_field(session),
            badge=_approvals_badge(session.pending_approvals),
        )
    return render(
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        "<title>{title} · Loomal Vault</title>"
        '<link rel="stylesheet" href="/static/console.css">'
        '<script src="/static/console.js" defer></script></head>'
        '<body><a class="skip" href="#main">Skip to content</a>'
        '<header><a class="brand" href="/">Loomal Vault</a>{header}</header>'
        '<main id="main" tabindex="-1"><h1>{title}</h1>{body}</main></body></html>\n',
        title=title,
        header=header,
        body=body,
    )


def _approvals_badge(pending: int | None) -> Html:
    """The header's count of approvals waiting for a person (none shown at zero)."""
    if not pending:
        return Html("")
    return render(
        ' <span class="badge pending" id="approvals-badge" title="{n} waiting for a decision">'
        "{n}</span>",
        n=pending,
    )


def csrf_field(session: AnySession) -> Html:
    return render('<input type="hidden" name="csrf" value="{token}">', token=session.csrf_token)


def when(value: datetime | None, *, seconds: bool = False) -> Html:
    if value is None:
        return Html('<span class="muted">never</span>')
    return render(
        '<time datetime="{iso}">{text}</time>',
        iso=value.strftime("%Y-%m-%dT%H:%M:%SZ"),
        text=value.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC"),
    )


def _expiry_badge(summary: CredentialSummary, now: datetime) -> Html:
    expires = summary.expires_at
    if expires is None:
        return Html("")
    if expires <= now:
        return Html('<span class="badge expired">Expired</span>')
    if expires - now <= EXPIRING_SOON:
        return Html('<span class="badge expiring">Expires within 7 days</span>')
    return Html("")


def _metadata(metadata: Mapping[str, Any]) -> Html:
    if not metadata:
        return Html('<span class="muted">—</span>')
    return join(
        render(
            '<span class="meta"><span class="k">{k}</span> {v}</span>',
            k=key,
            v=value if isinstance(value, str) else json.dumps(value),
        )
        for key, value in sorted(metadata.items())
    )


# -- signing in ------------------------------------------------------------------


def sign_in_page(csrf: str, error: str | None = None) -> Html:
    body = render(
        '<form method="post" action="/sign-in" class="card narrow">'
        '<input type="hidden" name="csrf" value="{csrf}">{error}'
        '<label for="api_key">API key</label>'
        '<input id="api_key" name="api_key" type="password" autocomplete="off" '
        'spellcheck="false" required placeholder="loid-... or lopk-..." autofocus>'
        '<button type="submit">Sign in</button></form>'
        '<p class="hint">Or, on the server host, run <code>loomal identity login-link NAME</code> '
        "and open the link it prints: it signs this browser in once, without a key.</p>"
        '<p class="hint">A platform key (<code>lopk-...</code>, from <code>loomal platform-key '
        "create</code>) signs in to the Identities pages, to create and manage agents.</p>",
        csrf=csrf,
        error=render('<p class="error" role="alert">{e}</p>', e=error) if error else "",
    )
    return layout("Sign in", body)


def login_link_page(csrf: str, error: str | None = None) -> Html:
    body = render(
        '<form method="post" action="/login" class="card narrow" id="login-link">'
        '<input type="hidden" name="csrf" value="{csrf}">{error}'
        '<label for="token">Sign-in link token</label>'
        '<input id="token" name="token" type="password" autocomplete="off" required>'
        '<button type="submit">Sign in</button></form>'
        '<p class="hint">Opening the link printed by <code>loomal identity login-link</code> '
        "fills this in. Each link works once, for a few minutes.</p>",
        csrf=csrf,
        error=render('<p class="error" role="alert">{e}</p>', e=error) if error else "",
    )
    return layout("Sign in with a link", body)


def signed_in_page(session: AnySession) -> Html:
    """The answer to a sign-in: the script keeps the binding and goes on."""
    platform = isinstance(session, PlatformConsoleSession)
    body = render(
        '<div class="card narrow" id="signed-in" data-binding="{binding}" '
        'data-next="{next}"><p>Signed in as <strong>{name}</strong>.</p>'
        '<p><a class="button" href="{next}">Continue</a></p>'
        '<p class="hint">The console needs JavaScript: it binds this sign-in to this '
        "browser tab's site, so a cookie set by another site cannot act for you.</p></div>",
        binding=session.binding,
        next="/identities" if platform else "/credentials",
        name=f"platform key {session.principal.name}"
        if isinstance(session, PlatformConsoleSession)
        else session.identity_name,
    )
    return layout("Signed in", body, session)


def switch_page(session: AnySession, other: str) -> Html:
    """A sign-in link for another identity while one is signed in: asked first."""
    body = render(
        '<div class="card narrow" role="alert"><p>You are signed in as <strong>{current}'
        "</strong>. This sign-in link is for <strong>{other}</strong>.</p>"
        "<p>Switch only if you meant to: everything you add after switching goes to "
        "{other}. A link someone else sent you can sign you in as them.</p>"
        '<form method="post" action="/login/switch" class="inline">{csrf}'
        '<input type="hidden" name="identity" value="{other}">'
        '<button type="submit" class="danger">Sign in as {other}</button></form> '
        '<form method="post" action="/login/cancel" class="inline">{csrf}'
        '<button type="submit" class="secondary">Stay signed in as {current}</button></form>'
        "</div>",
        current=f"platform key {session.principal.name}"
        if isinstance(session, PlatformConsoleSession)
        else session.identity_name,
        other=other,
        csrf=csrf_field(session),
    )
    return layout(f"Switch to {other}?", body, session)


# -- credentials -------------------------------------------------------------------


def credentials_page(
    session: ConsoleSession,
    summaries: Sequence[CredentialSummary],
    *,
    total: int,
    type_filter: str,
    query: str,
) -> Html:
    now = datetime.now(UTC)
    can_write = session.can(Scope.WRITE)
    add = Html('<p><a class="button" href="/add">Add credential</a></p>')
    recover = Html('<p class="muted"><a href="/deleted">Recently deleted</a></p>')
    options = join(
        render('<option value="{v}"{sel}>{label}</option>', v=t, label=t or "All types", sel=sel)
        for t in ("", *CREDENTIAL_TYPES)
        for sel in [Html(" selected") if t == type_filter else Html("")]
    )
    filters = render(
        '<form method="get" action="/credentials" class="filters" role="search">'
        '<label for="q">Search by name</label><input id="q" name="q" type="search" value="{q}">'
        '<label for="type-filter">Filter by type</label>'
        '<select id="type-filter" name="type">{options}</select>'
        '<button type="submit" class="secondary">Apply</button></form>',
        q=query,
        options=options,
    )
    if total == 0:
        how = (
            "Add your first one with <strong>Add credential</strong>, or from a shell: "
            "<code>loomal vault store NAME --type API_KEY --data key=...</code>."
            if can_write
            else "This key may only read; credentials are added with a key that has "
            "the vault:write scope."
        )
        return layout(
            "Credentials",
            (add if can_write else Html(""))
            + Html(f'<div class="empty card"><h2>No credentials yet</h2><p>{how}</p></div>')
            + recover,
            session,
        )
    rows = join(
        render(
            '<tr><td data-label="Name"><a href="/credentials/{name}">{name}</a> {badge}</td>'
            '<td data-label="Type">{type}</td><td data-label="Metadata">{meta}</td>'
            '<td data-label="Last used">{used}</td><td data-label="Expires">{expires}</td></tr>',
            name=s.name,
            badge=_expiry_badge(s, now),
            type=s.type,
            meta=_metadata(s.metadata),
            used=when(s.last_used_at),
            expires=when(s.expires_at) if s.expires_at else Html('<span class="muted">—</span>'),
        )
        for s in summaries
    )
    table = (
        render(
            "<table><caption>{shown} of {total} credentials</caption><thead><tr>"
            '<th scope="col">Name</th><th scope="col">Type</th><th scope="col">Metadata</th>'
            '<th scope="col">Last used</th><th scope="col">Expires</th></tr></thead>'
            "<tbody>{rows}</tbody></table>",
            shown=len(summaries),
            total=total,
            rows=rows,
        )
        if summaries
        else Html('<p class="empty card">No credential matches this search.</p>')
    )
    body = (add if can_write else Html("")) + filters + table + recover
    return layout("Credentials", body, session)


def credential_page(
    session: ConsoleSession,
    summary: CredentialSummary,
    outline: DataOutline,
    history: Html | None = None,
    extra: Html = Html(""),  # noqa: B008 (an immutable str)
) -> Html:
    """A credential's details; ``extra`` (an OAuth card) below them; its live TOTP
    code (any type holding a seed) at once; its secret fields behind Reveal for a
    session that may read them."""
    now = datetime.now(UTC)
    can_write = session.can(Scope.WRITE)
    name = summary.name
    details = render(
        '<dl class="card details"><dt>Type</dt><dd>{type}</dd><dt>Metadata</dt><dd>{meta}</dd>'
        "<dt>Created</dt><dd>{created}</dd><dt>Updated</dt><dd>{updated}</dd>"
        "<dt>Last used</dt><dd>{used}</dd><dt>Expires</dt><dd>{expires} {badge}</dd></dl>",
        type=summary.type,
        meta=_metadata(summary.metadata),
        created=when(summary.created_at),
        updated=when(summary.updated_at),
        used=when(summary.last_used_at),
        expires=when(summary.expires_at) if summary.expires_at else "—",
        badge=_expiry_badge(summary, now),
    )
    if session.can(Scope.READ):
        secrets = render(
            '<section class="card" aria-labelledby="secret-title" id="secrets" data-name="{name}" '
            'data-csrf="{csrf}"><h2 id="secret-title">Secret fields</h2>'
            '<p class="muted" id="secret-note">Hidden. Reveal fetches them from the vault '
            "(the call is audited).</p>"
            '<dl id="secret-fields"></dl>'
            '<button type="button" id="reveal">Reveal</button> '
            '<button type="button" id="hide" class="secondary" hidden>Hide</button>'
            '<p id="secret-error" class="error" role="alert" hidden></p></section>',
            name=name,
            csrf=session.csrf_token,
        )
    else:
        secrets = Html(
            '<section class="card" aria-labelledby="secret-title"><h2 id="secret-title">'
            'Secret fields</h2><p class="muted">This session may use the credential but not see '
            "its secret fields (its key has vault:use, not vault:read): agents use it through "
            "the vault, in brokered requests.</p></section>"
        )
    has_backup = summary.type == "TOTP" or outline.backup_codes_remaining > 0
    backup = Html("")
    if can_write and outline.backup_codes_remaining > 0:
        backup = render(
            '<p><a class="button secondary" id="backup-link" '
            'href="/credentials/{name}/backup-code">Use a backup code</a></p>',
            name=name,
        )
    totp = render(
        '<section class="card" aria-labelledby="totp-title" id="totp" data-name="{name}"{flag}>'
        '<h2 id="totp-title">Current code</h2>'
        '<p><output id="totp-code" class="code" aria-live="off">······</output> '
        '<button type="button" id="copy-totp" class="secondary">Copy code</button></p>'
        '<p><progress id="totp-progress" max="30" value="0" aria-label="Time left"></progress>'
        ' <span id="totp-remaining" aria-live="polite"></span></p>'
        '<p id="totp-backup" class="muted"></p>{backup}'
        '<p id="totp-error" class="error" role="alert" hidden></p></section>',
        name=name,
        backup=backup,
        flag=Html(' data-backup="1"') if has_backup else Html(""),
    )
    if not outline.has_totp:
        totp = Html("")
    actions = Html("")
    if can_write:
        actions = render(
            '<p class="actions"><a class="button secondary" href="/credentials/{name}/edit">Edit'
            '</a> <a class="button danger" href="/credentials/{name}/delete">Delete</a></p>',
            name=name,
        )
    return layout(name, details + extra + totp + secrets + actions + (history or Html("")), session)


def confirm_page(
    session: AnySession, *, title: str, question: str, action: str, button: str, cancel: str
) -> Html:
    body = render(
        '<form method="post" action="{action}" class="card narrow">{csrf}'
        "<p>{question}</p>"
        '<p class="actions"><button type="submit" class="danger">{button}</button> '
        '<a class="button secondary" href="{cancel}">Cancel</a></p></form>',
        action=action,
        csrf=csrf_field(session),
        question=question,
        button=button,
        cancel=cancel,
    )
    return layout(title, body, session)


def backup_code_page(session: ConsoleSession, name: str, code: str, remaining: int) -> Html:
    body = render(
        '<div class="card"><p>Your backup code, shown only this once:</p>'
        '<p><output class="code" id="backup-code">{code}</output> '
        '<button type="button" class="secondary" data-copy="backup-code">Copy</button></p>'
        "<p>{left}. The code is now listed under <code>usedBackupCodes</code>.</p>"
        '<p><a class="button secondary" href="/credentials/{name}">Back to {name}</a></p></div>',
        code=code,
        left="1 unused backup code left"
        if remaining == 1
        else f"{remaining} unused backup codes left",
        name=name,
    )
    return layout(f"Backup code for {name}", body, session)


def message_page(title: str, message: str, session: AnySession | None = None) -> Html:
    body = render(
        '<div class="card"><p>{m}</p><p><a href="/">Back to the console</a></p></div>', m=message
    )
    return layout(title, body, session)
