"""A person's answer to an agent from a console page: approving or denying a held
request (the Approvals pages), declining an access request (the Requests pages).

Offering the buttons is only a courtesy (:func:`may_decide`): the core decides
who may answer and refuses anyone else, and of two people answering at once the
second gets its refusal (409: someone decided first) as a page, like any other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from litestar import Response

from loomal.console.markup import Html, attrs, render
from loomal.console.pages import csrf_field
from loomal.console.sessions import ConsoleSession
from loomal.console.web import Req, authorised_post, error_page, redirect
from loomal.core.principals import Scope
from loomal.errors import LoomalError

__all__ = ["decision_form", "may_decide", "post_decision"]


def may_decide(session: ConsoleSession) -> bool:
    """Whether to offer the buttons (vault:write or vault:approve)."""
    return session.can(Scope.WRITE) or session.can(Scope.APPROVE)


def decision_form(
    session: ConsoleSession,
    action: str,
    label: str,
    *,
    danger: bool = False,
    form_id: str | None = None,
    choice: Html | None = None,
) -> Html:
    """One answer as its own small form, so each button posts only its own choice."""
    return render(
        '<form method="post" action="{action}" class="inline"{form_id}>{csrf}{choice}'
        '<button type="submit"{danger}>{label}</button></form>',
        action=action,
        form_id=attrs(id=form_id),
        csrf=csrf_field(session),
        choice=choice or Html(""),
        danger=attrs(class_="danger" if danger else None),
        label=label,
    )


async def post_decision(
    request: Req,
    decide: Callable[[ConsoleSession, dict[str, str]], Awaitable[object]],
    then: str,
) -> Response[bytes]:
    """Run ``decide`` for the session that posted the form, then go to ``then``;
    the core's refusal is shown as a page instead."""
    checked = await authorised_post(request)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    try:
        await decide(session, form)
    except LoomalError as error:
        return error_page(session, error)
    return redirect(then)
