"""Editing in a real browser against a real ``loomal serve``: what a person sees and
clicks when they edit a credential an agent also uses."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, auth
from tests.console.browsing import Watched, sign_in

pytestmark = pytest.mark.slow

BROKERED = {
    "service": "stripe",
    "allowedHosts": ["api.stripe.com"],
    "baseUrl": "https://api.stripe.com/v1",
    "inject": {"header": "Authorization", "prefix": "Bearer "},
    "rules": [{"methods": ["GET", "POST"], "paths": ["/v1/charges/**"]}],
    "oauth": {"tokenUrl": "https://auth.example.com/token"},
    "team": "billing",
}


def agent(server: ServerProcess) -> httpx.Client:
    assert server.api_key is not None
    return httpx.Client(base_url=server.base_url + "/v0/vault/", headers=auth(server.api_key))


def unchanged_part(credential: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in credential.items() if k != "lastUsedAt"}


def test_edit_and_save_without_changes_changes_nothing(browser: Any, server: ServerProcess) -> None:
    assert server.api_key is not None
    with agent(server) as api:
        stored = {
            "stripe": {
                "type": "API_KEY",
                "data": {"key": "sk_live_1"},
                "metadata": BROKERED,
                "expiresAt": "2027-01-01T00:00:00Z",
            },
            "github-2fa": {
                "type": "TOTP",
                "data": {"secret": "JBSWY3DPEHPK3PXP", "backupCodes": ["a-1", "b-2"]},
                "metadata": {"issuer": "GitHub", "digits": 6},
            },
        }
        for name, body in stored.items():
            assert api.put(name, json=body).status_code == 200
        assert api.post("github-2fa/totp/backup").json()["code"] == "a-1"
        before = {name: unchanged_part(api.get(name).json()) for name in stored}
        assert before["github-2fa"]["data"]["usedBackupCodes"] == ["a-1"]

        watched = Watched(browser, server.base_url)
        page = watched.page
        sign_in(page, server.api_key)
        for name in stored:
            page.goto(f"/credentials/{name}")
            page.get_by_role("link", name="Edit").click()
            page.get_by_role("button", name="Save").click()
            page.get_by_role("heading", name=name, exact=True).wait_for()
        after = {name: unchanged_part(api.get(name).json()) for name in stored}
    assert after == before  # every field, the expiry to the second, the version too
    assert watched.csp_violations() == []
    watched.context.close()


def test_a_change_an_agent_made_meanwhile_is_shown_not_overwritten(
    browser: Any, server: ServerProcess
) -> None:
    assert server.api_key is not None
    with agent(server) as api:
        body = {"type": "LOGIN", "data": {"password": "pw-1"}, "metadata": {"username": "bot"}}
        api.put("site", json=body)
        watched = Watched(browser, server.base_url)
        page = watched.page
        sign_in(page, server.api_key)
        page.goto("/credentials/site/edit")
        page.get_by_label("Username").fill("person")
        page.get_by_label("Allowed hosts").fill("api.example.com")
        rotated = {"type": "LOGIN", "data": {"password": "pw-2"}, "metadata": {"username": "bot"}}
        assert api.put("site", json=rotated).status_code == 200  # the agent, meanwhile
        page.get_by_role("button", name="Save").click()

        alert = page.get_by_role("alert").filter(has_text="changed while you were editing")
        alert.wait_for()
        assert "Its secret fields were changed at" in alert.inner_text()
        assert api.get("site").json()["data"] == {"password": "pw-2"}  # nothing overwritten
        assert page.get_by_label("Username").input_value() == "person"  # the change kept
        assert page.get_by_label("Allowed hosts").input_value() == "api.example.com"
        page.get_by_role("button", name="Save").click()
        page.get_by_role("heading", name="site", exact=True).wait_for()
        saved = api.get("site").json()
    assert saved["data"] == {"password": "pw-2"}
    assert saved["metadata"] == {"username": "person", "allowedHosts": ["api.example.com"]}
    assert watched.csp_violations() == []
    watched.context.close()


def test_request_rules_are_checked_when_saved(browser: Any, server: ServerProcess) -> None:
    assert server.api_key is not None
    with agent(server) as api:
        api.put("gh", json={"type": "API_KEY", "data": {"key": "k"}, "metadata": {}})
        watched = Watched(browser, server.base_url)
        page = watched.page
        sign_in(page, server.api_key)
        page.goto("/credentials/gh/edit")
        rules = page.get_by_label("Request rules (JSON)")
        rules.fill('[{"methods": ["GET"], "paths": ["v1/**"]}]')
        page.get_by_role("button", name="Save").click()
        page.get_by_text("The credential was not saved").wait_for()
        error = page.locator("#b-m-rules-error").inner_text()
        assert error.startswith("metadata.rules[0].paths must be a non-empty array of paths")
        assert rules.get_attribute("aria-invalid") == "true"
        rules.fill('[{"methods": ["GET"], "paths": ["/v1/**"]}]')
        page.get_by_role("button", name="Save").click()
        page.get_by_role("heading", name="gh", exact=True).wait_for()
        assert api.get("gh").json()["metadata"]["rules"] == [
            {"methods": ["GET"], "paths": ["/v1/**"]}
        ]
    watched.context.close()


def test_adding_an_existing_name_asks_what_replacing_loses(
    browser: Any, server: ServerProcess
) -> None:
    assert server.api_key is not None
    with agent(server) as api:
        body = {"type": "LOGIN", "data": {"password": "pw-1"}, "metadata": {"username": "bot"}}
        api.put("github", json=body)
        watched = Watched(browser, server.base_url)
        page = watched.page
        sign_in(page, server.api_key)
        page.get_by_role("link", name="Add credential").click()
        page.get_by_label("Name", exact=True).fill("github")
        page.get_by_label("Type", exact=True).select_option("API_KEY")
        page.get_by_label("Key", exact=True).fill("ghp_new")
        page.get_by_role("button", name="Save").click()
        box = page.get_by_role("region", name="Replacing “github” loses all of this")
        box.wait_for()
        assert "LOGIN" in box.inner_text() and "username" in box.inner_text()
        assert api.get("github").json()["data"] == {"password": "pw-1"}  # not replaced
        assert page.get_by_label("Key", exact=True).input_value() == ""  # never echoed
        page.get_by_label("Key", exact=True).fill("ghp_new")
        page.get_by_label("Replace “github” (version 1)").check()
        page.get_by_role("button", name="Save").click()
        page.get_by_role("heading", name="github", exact=True).wait_for()
        replaced = api.get("github").json()
    assert (replaced["type"], replaced["data"]) == ("API_KEY", {"key": "ghp_new"})
    assert watched.csp_violations() == []
    watched.context.close()
