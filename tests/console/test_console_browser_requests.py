"""An access request answered in a real browser against a real ``loomal serve``:
the agent asks for a credential it lacks, a person fills in the request's form in
the console, the agent's poll finds it fulfilled and the agent reads it."""

from __future__ import annotations

from typing import Any

import pytest

from loomal import Loomal
from tests.conftest import ServerProcess
from tests.console.browsing import Watched, sign_in, unlabelled_controls

pytestmark = pytest.mark.slow

REASON = "<b>Refund</b> order 42 & notify <script>alert(1)</script>"


def test_an_agent_asks_a_person_fulfils_in_the_console_the_agent_uses_it(
    browser: Any, server: ServerProcess
) -> None:
    assert server.api_key is not None
    with Loomal(server.api_key, base_url=server.base_url) as agent:
        created = agent.requests.create(
            "stripe", "API_KEY", REASON, allowed_hosts=["api.stripe.com"]
        )
        assert created.url == f"{server.base_url}/requests/{created.request_id}"

        watched = Watched(browser, server.base_url)
        page = watched.page
        sign_in(page, server.api_key)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Requests").click()
        page.get_by_role("heading", name="Requests").wait_for()
        row = page.get_by_role("row").filter(has_text="stripe")
        assert REASON in row.inner_text()  # shown as the agent wrote it: text, not markup
        assert page.locator("main b, main script").count() == 0
        watched.shot("requests")

        page.goto(created.url.removeprefix(server.base_url))  # the URL the agent was given
        page.get_by_role("heading", name="Request for stripe").wait_for()
        assert page.locator("#ask-reason").inner_text() == REASON
        assert unlabelled_controls(page) == []
        assert page.get_by_label("Name", exact=True).input_value() == "stripe"
        assert page.get_by_label("Allowed hosts").input_value() == "api.stripe.com"
        page.locator("#f-API_KEY-key").fill("sk_live_from_a_person")
        watched.shot("request-fulfil")
        page.get_by_role("button", name="Save").click()
        page.get_by_role("heading", name="stripe", exact=True).wait_for()

        polled = agent.requests.get(created.request_id)
        assert polled.status == "fulfilled"
        assert "sk_live_from_a_person" not in str(polled)
        credential = agent.vault.get("stripe")
        assert credential.data["key"] == "sk_live_from_a_person"
        assert credential.metadata["allowedHosts"] == ["api.stripe.com"]

        other = agent.requests.create("smtp", "SMTP", "Send alerts")
        page.goto(f"/requests/{other.request_id}")
        page.get_by_role("button", name="Decline").click()
        page.get_by_role("heading", name="Requests").wait_for()
        assert agent.requests.get(other.request_id).status == "declined"
    assert watched.csp_violations() == []
    watched.context.close()
