"""History and Recently deleted in a real browser against a real ``loomal serve``:
a person restores an old version, then recovers a deleted credential whose name
an agent has reused meanwhile."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, auth
from tests.console.browsing import Watched, sign_in, unlabelled_controls

pytestmark = pytest.mark.slow


def test_restore_a_version_then_recover_a_deleted_credential(
    browser: Any, server: ServerProcess
) -> None:
    assert server.api_key is not None
    api = httpx.Client(base_url=server.base_url + "/v0/vault/", headers=auth(server.api_key))
    with api:
        for password in ("pw-1", "pw-2"):
            body = {
                "type": "LOGIN",
                "data": {"password": password},
                "metadata": {"username": "bot"},
            }
            assert api.put("site", json=body).status_code == 200

        watched = Watched(browser, server.base_url)
        page = watched.page
        sign_in(page, server.api_key)
        page.goto("/credentials/site")
        history = page.locator("#history")
        assert history.get_by_role("row").count() == 3  # a header and two versions
        assert "Current" in history.get_by_role("row").nth(1).inner_text()
        assert "pw-" not in page.content()
        history.get_by_role("link", name="Restore version 1").click()
        page.get_by_role("button", name="Restore version 1").click()
        page.get_by_role("heading", name="site", exact=True).wait_for()
        assert "Restored" in page.locator("#history").get_by_role("row").nth(1).inner_text()
        assert api.get("site").json()["data"]["password"] == "pw-1"

        page.get_by_role("link", name="Delete").click()
        assert "undelete it from Recently deleted" in page.content()
        page.get_by_role("button", name="Delete site").click()
        assert api.get("site").status_code == 404
        reused = {"type": "LOGIN", "data": {"password": "agent-new"}}
        assert api.put("site", json=reused).status_code == 200

        page.goto("/credentials")
        page.get_by_role("link", name="Recently deleted").click()
        page.get_by_role("heading", name="Recently deleted").wait_for()
        assert unlabelled_controls(page) == []
        page.get_by_label("New name (“site” is in use)").fill("site-old")
        page.get_by_role("button", name="Undelete site").click()
        page.get_by_role("heading", name="site-old", exact=True).wait_for()
        assert api.get("site-old").json()["data"]["password"] == "pw-1"
        assert api.get("site").json()["data"]["password"] == "agent-new"
        kinds = [v["kind"] for v in api.get("site-old/versions").json()["versions"]]
        assert kinds[0] == "undelete"
    assert watched.csp_violations() == []
    watched.context.close()
