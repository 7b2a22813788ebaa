"""Approvals in a real browser against a real ``loomal serve``: an agent's DELETE
through fetch is held, a person follows the approvalUrl to the console page, reads
the agent's reason (as text), approves it, and the agent's repeat then reaches a
loopback upstream, once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, auth, new_key, start_server
from tests.console.browsing import Watched, sign_in, unlabelled_controls
from tests.upstream import Upstream, running_upstream

pytestmark = pytest.mark.slow

RULES = [
    {"methods": ["GET"], "paths": ["/echo/**"]},
    {"methods": ["DELETE"], "paths": ["/echo/*"], "approval": {"windowSeconds": 0}},
]
REASON = 'Ann asked to remove the duplicate <img src=x onerror="alert(1)"> contact'


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[ServerProcess, Upstream, str]]:
    data_dir = str(tmp_path / "data")
    with running_upstream() as upstream:
        server = start_server(
            "--data-dir", data_dir, "--fetch-allow-private", "127.0.0.1", cwd=tmp_path
        )
        try:
            agent_key = new_key(
                "add-key", "default", "--scopes", "vault:use", "--data-dir", data_dir, cwd=tmp_path
            )
            yield server, upstream, agent_key
        finally:
            server.stop()


def test_a_person_approves_a_held_delete_and_the_agents_repeat_goes_through(
    browser: Any, setup: tuple[ServerProcess, Upstream, str]
) -> None:
    server, upstream, agent_key = setup
    assert server.api_key is not None
    owner = httpx.Client(base_url=server.base_url, headers=auth(server.api_key))
    agent = httpx.Client(base_url=server.base_url, headers=auth(agent_key))
    with owner, agent:
        body = {
            "type": "API_KEY",
            "data": {"key": "sk_live_" + "Br0" * 10},
            "metadata": {
                "allowedHosts": ["127.0.0.1"],
                "baseUrl": upstream.base_url,
                "rules": RULES,
            },
        }
        assert owner.put("/v0/vault/crm", json=body).status_code == 200
        delete = {"url": f"{upstream.base_url}/echo/42", "method": "DELETE"}
        held = agent.post("/v0/vault/crm/fetch", json={**delete, "reason": REASON})
        assert held.status_code == 202, held.text
        approval_id = held.json()["approvalId"]
        approval_url = held.json()["approvalUrl"]
        assert approval_url == f"{server.base_url}/approvals/{approval_id}"
        assert not upstream.seen

        watched = Watched(browser, server.base_url)
        page = watched.page
        dialogs: list[str] = []

        def on_dialog(dialog: Any) -> None:  # an alert() the reason must never run
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        sign_in(page, server.api_key)
        badge = page.locator("#approvals-badge")
        assert badge.inner_text() == "1"
        page.get_by_role("link", name="Approvals").click()
        page.get_by_role("heading", name="Approvals", exact=True).wait_for()
        assert unlabelled_controls(page) == []
        watched.shot("approvals")

        page.goto(approval_url)  # the link the agent relayed
        card = page.locator(f"section#{approval_id}")
        assert card.locator(".reason").inner_text() == REASON  # text, not markup
        assert card.locator("img").count() == 0
        assert "DELETE" in card.inner_text() and "127.0.0.1/echo/42" in card.inner_text()
        page.get_by_label("Allow").select_option(label="This request only")
        page.get_by_role("button", name="Approve").click()
        page.get_by_text("Approved", exact=True).wait_for()
        assert page.get_by_role("button", name="Approve").count() == 0
        assert page.locator("#approvals-badge").count() == 0

        done = agent.post("/v0/vault/crm/fetch", json={**delete, "approvalId": approval_id})
        assert done.status_code == 200, done.text
        assert [(s.method, s.path) for s in upstream.seen] == [("DELETE", "/echo/42")]
        twice = agent.post("/v0/vault/crm/fetch", json={**delete, "approvalId": approval_id})
        assert twice.status_code == 410 and len(upstream.seen) == 1

        page.reload()
        page.get_by_text("Approved and used", exact=True).wait_for()
    assert dialogs == []
    assert watched.csp_violations() == []
    watched.context.close()
