"""The Identities pages, for a platform-key session, as escaped HTML.

No page holds a key when it is first sent, except the one that answers a create
or a rotation: the new key is shown that once, with a copy button and a ready
``export`` line, and never again (only its prefix and label are kept).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from loomal.console.markup import Html, join, render
from loomal.console.pages import csrf_field, layout, when
from loomal.console.sessions import PlatformConsoleSession
from loomal.core.models import ApiKeyInfo
from loomal.core.platform_models import IdentitySummary
from loomal.core.principals import Scope

__all__ = [
    "SCOPES",
    "created_key_page",
    "identities_page",
    "identity_page",
    "new_identity_page",
]

SCOPES = (
    (Scope.READ.value, "read secret fields (and use)"),
    (Scope.WRITE.value, "store and delete credentials"),
    (Scope.USE.value, "use credentials without seeing their secrets"),
)


def _keys(keys: Sequence[ApiKeyInfo]) -> Html:
    if not keys:
        return Html('<span class="muted">no live key</span>')
    return join(
        render(
            '<span class="key"><code>{prefix}…</code>{label}</span>',
            prefix=k.prefix,
            label=render(' <span class="label">{l}</span>', l=k.label) if k.label else "",
        )
        for k in keys
    )


def identities_page(
    session: PlatformConsoleSession,
    rows: Sequence[tuple[IdentitySummary, Sequence[ApiKeyInfo]]],
    next_token: str | None,
) -> Html:
    add = Html('<p><a class="button" href="/identities/new">Create identity</a></p>')
    if not rows:
        return layout(
            "Identities",
            add
            + Html(
                '<div class="empty card"><h2>No identities yet</h2><p>Create one for '
                "each agent: it gets its own API key and its own credentials.</p></div>"
            ),
            session,
        )
    body = join(
        render(
            '<tr><td data-label="Name"><a href="/identities/{id}">{name}</a></td>'
            '<td data-label="Scopes">{scopes}</td><td data-label="Keys">{keys}</td>'
            '<td data-label="Usage">{usage}</td><td data-label="Last used">{used}</td></tr>',
            id=summary.identity_id,
            name=summary.name,
            scopes=" ".join(summary.scopes) or "—",
            keys=_keys(keys),
            usage=f"{summary.usage_count} requests",
            used=when(summary.last_used_at),
        )
        for summary, keys in rows
    )
    table = render(
        "<table><caption>{n} identities, oldest first</caption><thead><tr>"
        '<th scope="col">Name</th><th scope="col">Scopes</th><th scope="col">Keys</th>'
        '<th scope="col">Usage</th><th scope="col">Last used</th></tr></thead>'
        "<tbody>{body}</tbody></table>",
        n=len(rows),
        body=body,
    )
    more = (
        render(
            '<p><a class="button secondary" href="/identities?{q}">Next page</a></p>',
            q=urlencode({"pageToken": next_token}),
        )
        if next_token
        else Html("")
    )
    return layout("Identities", add + table + more, session)


def _scope_boxes(chosen: Sequence[str], prefix: str) -> Html:
    return join(
        render(
            '<p><input type="checkbox" id="{p}-{i}" name="scopes" value="{v}"{c}>'
            '<label class="inline" for="{p}-{i}"><code>{v}</code>: {what}</label></p>',
            p=prefix,
            i=index,
            v=value,
            what=what,
            c=Html(" checked") if value in chosen else "",
        )
        for index, (value, what) in enumerate(SCOPES)
    )


def new_identity_page(session: PlatformConsoleSession, error: str | None = None) -> Html:
    body = render(
        '<form method="post" action="/identities" class="card narrow" id="new-identity">'
        "{csrf}{error}"
        '<div class="field"><label for="name">Name</label>'
        '<input id="name" name="name" autocomplete="off" spellcheck="false" '
        'placeholder="research-agent">'
        '<p class="hint">Leave empty for a fresh readable name.</p></div>'
        "<fieldset><legend>Scopes</legend>{scopes}</fieldset>"
        '<div class="field"><label for="label">Key label</label>'
        '<input id="label" name="label" autocomplete="off" placeholder="billing-bot">'
        '<p class="hint">Who holds the key: shown beside its prefix in lists and the '
        "audit log.</p></div>"
        '<p class="actions"><button type="submit">Create identity</button> '
        '<a class="button secondary" href="/identities">Cancel</a></p></form>',
        csrf=csrf_field(session),
        error=render('<p class="error" role="alert">{e}</p>', e=error) if error else "",
        scopes=_scope_boxes((Scope.READ.value, Scope.WRITE.value), "scope"),
    )
    return layout("Create identity", body, session)


def created_key_page(
    session: PlatformConsoleSession,
    *,
    title: str,
    name: str,
    identity_id: str,
    raw_key: str,
    api_url: str,
) -> Html:
    """The new key, shown this once, and the lines an agent's shell needs."""
    body = render(
        '<div class="card" role="status"><p>The API key of <strong>{name}</strong>, shown '
        "only this once: copy it now. The vault keeps only its prefix.</p>"
        '<p><code class="secret" id="new-key">{key}</code> '
        '<button type="button" class="secondary" data-copy="new-key">Copy key</button></p>'
        "<p>For the agent's shell:</p>"
        '<pre><code class="secret" id="export-lines">export LOOMAL_API_KEY={key}\n'
        "export LOOMAL_API_URL={url}</code></pre>"
        '<p><button type="button" class="secondary" data-copy="export-lines">'
        "Copy export lines</button></p>"
        '<p><a class="button" href="/identities/{id}">Done</a></p></div>',
        name=name,
        key=raw_key,
        url=api_url,
        id=identity_id,
    )
    return layout(title, body, session)


def identity_page(
    session: PlatformConsoleSession,
    summary: IdentitySummary,
    keys: Sequence[ApiKeyInfo],
    credentials: int,
) -> Html:
    ident = summary.identity_id
    details = render(
        '<dl class="card details"><dt>Id</dt><dd><code>{id}</code></dd>'
        "<dt>Scopes</dt><dd>{scopes}</dd><dt>Credentials</dt><dd>{creds}</dd>"
        "<dt>Usage</dt><dd>{usage} requests</dd><dt>Last used</dt><dd>{used}</dd>"
        "<dt>Created</dt><dd>{created}</dd></dl>",
        id=ident,
        scopes=" ".join(summary.scopes) or "—",
        creds=credentials,
        usage=summary.usage_count,
        used=when(summary.last_used_at),
        created=when(summary.created_at),
    )
    key_rows = join(
        render(
            '<tr><td data-label="Key"><code>{prefix}…</code></td>'
            '<td data-label="Label">{label}</td><td data-label="Scopes">{scopes}</td>'
            '<td data-label="Created">{created}</td><td data-label="Expires">{expires}</td></tr>',
            prefix=k.prefix,
            label=k.label or "—",
            scopes=" ".join(k.scopes),
            created=when(k.created_at),
            expires=when(k.expires_at) if k.expires_at else "—",
        )
        for k in keys
    )
    key_table = render(
        '<section aria-labelledby="keys-title"><h2 id="keys-title">Live keys</h2>'
        "<table><thead><tr>"
        '<th scope="col">Key</th><th scope="col">Label</th><th scope="col">Scopes</th>'
        '<th scope="col">Created</th><th scope="col">Expires</th></tr></thead>'
        "<tbody>{rows}</tbody></table></section>",
        rows=key_rows,
    )
    rename = render(
        '<form method="post" action="/identities/{id}/rename" class="card narrow" id="rename">'
        '{csrf}<h2>Rename</h2><div class="field"><label for="new-name">Name</label>'
        '<input id="new-name" name="name" value="{name}" autocomplete="off" required></div>'
        '<button type="submit">Rename</button></form>',
        id=ident,
        csrf=csrf_field(session),
        name=summary.name,
    )
    scopes = render(
        '<form method="post" action="/identities/{id}/scopes" class="card narrow" id="scopes">'
        "{csrf}<fieldset><legend>Scopes of every live key</legend>{boxes}</fieldset>"
        '<button type="submit">Change scopes</button></form>',
        id=ident,
        csrf=csrf_field(session),
        boxes=_scope_boxes(summary.scopes, "scope"),
    )
    actions = render(
        '<p class="actions"><a class="button secondary" href="/identities/{id}/rotate">'
        'Rotate key</a> <a class="button danger" href="/identities/{id}/delete">'
        "Delete identity</a></p>",
        id=ident,
    )
    return layout(summary.name, details + key_table + rename + scopes + actions, session)
