"""The console's OAuth parts: the card on an OAUTH credential the vault refreshes
(its state, Connect) and the page that sends a person on to the provider."""

from __future__ import annotations

from loomal.console.markup import Html, render
from loomal.console.pages import csrf_field, layout
from loomal.console.sessions import ConsoleSession
from loomal.core.identity import Scope
from loomal.core.models import CredentialSummary

__all__ = ["connect_page", "oauth_card"]


def oauth_card(session: ConsoleSession, summary: CredentialSummary) -> Html:
    """An OAUTH credential the vault refreshes: its state, and Connect (a person
    authorises the vault at the provider again, or for the first time)."""
    if summary.type != "OAUTH" or "oauth" not in summary.metadata:
        return Html("")
    needs = summary.metadata.get("oauthStatus") == "needs_reauth"
    state = Html(
        '<p class="error" id="oauth-state" role="alert">Needs a person: the provider refused '
        "its refresh token (revoked, expired or reused). Connect it again.</p>"
        if needs
        else '<p class="muted" id="oauth-state">The vault refreshes its access token before '
        "handing it out.</p>"
    )
    connect = Html("")
    if session.can(Scope.WRITE):
        connect = render(
            '<form method="post" action="/credentials/{name}/connect" class="inline">{csrf}'
            '<button type="submit">Connect</button></form>',
            name=summary.name,
            csrf=csrf_field(session),
        )
    return render(
        '<section class="card" aria-labelledby="oauth-title"><h2 id="oauth-title">OAuth</h2>'
        "{state}{connect}</section>",
        state=state,
        connect=connect,
    )


def connect_page(session: ConsoleSession, name: str, authorize_url: str, minutes: int) -> Html:
    """A link, not a redirect: the console's CSP allows forms to post only to itself,
    and the person sees where they are sent."""
    body = render(
        '<div class="card"><p>Continue at the provider to let the vault hold the tokens of '
        "“{name}”. The link works once, for {minutes} minutes.</p>"
        '<p><a class="button" id="continue" href="{url}" rel="noreferrer">Continue to the '
        'provider</a> <a class="button secondary" href="/credentials/{name}">Cancel</a></p>'
        "</div>",
        name=name,
        url=authorize_url,
        minutes=str(minutes),
    )
    return layout(f"Connect {name}", body, session)
