"""The Identities pages in a real browser against a real ``loomal serve`` (#24
item 4): the person who runs the fleet signs in with a platform key and creates,
renames, re-scopes, rotates and deletes an agent's identity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import ServerProcess, auth, new_platform_key
from tests.console.browsing import Watched, sign_in, unlabelled_controls

pytestmark = pytest.mark.slow


def platform_sign_in(page: Any, key: str) -> None:
    page.goto("/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Identities", exact=True).wait_for()


def shown_key(page: Any) -> str:
    key: str = page.locator("#new-key").inner_text().strip()
    assert key.startswith("loid-") and len(key) == 48
    return key


def test_the_fleet_operator_manages_an_identity_end_to_end(
    browser: Any, server: ServerProcess, tmp_path: Path
) -> None:
    ops = new_platform_key(tmp_path / "server-data", cwd=tmp_path)
    watched = Watched(browser, server.base_url)
    page = watched.page
    platform_sign_in(page, ops)
    assert unlabelled_controls(page) == []

    page.get_by_role("link", name="Create identity").click()
    page.get_by_label("Name", exact=True).fill("research-agent")
    expect(page.get_by_label("vault:read")).to_be_checked()
    expect(page.get_by_label("vault:write")).to_be_checked()
    page.get_by_label("Key label").fill("crawler")
    assert unlabelled_controls(page) == []
    page.get_by_role("button", name="Create identity").click()
    page.get_by_role("heading", name="Created research-agent").wait_for()
    key = shown_key(page)
    page.get_by_role("button", name="Copy key").click()
    assert page.evaluate("navigator.clipboard.readText()") == key
    page.get_by_role("button", name="Copy export lines").click()
    exported = page.evaluate("navigator.clipboard.readText()")
    assert exported.splitlines() == [
        f"export LOOMAL_API_KEY={key}",
        f"export LOOMAL_API_URL={server.base_url}",
    ]
    with httpx.Client(base_url=server.base_url, headers=auth(key)) as agent:
        assert agent.get("/v0/whoami").json()["name"] == "research-agent"
        for name in ("openai", "github"):
            body = {"type": "API_KEY", "data": {"key": "k"}}
            assert agent.put(f"/v0/vault/{name}", json=body).status_code == 200

    page.get_by_role("link", name="Done").click()
    page.get_by_role("heading", name="research-agent").wait_for()
    expect(page.locator("main")).to_contain_text("crawler")
    page.get_by_label("Name", exact=True).fill("researcher")
    page.get_by_role("button", name="Rename").click()
    page.get_by_role("heading", name="researcher", exact=True).wait_for()
    page.get_by_label("vault:write").uncheck()
    page.get_by_role("button", name="Change scopes").click()
    expect(page.locator("dl.details")).to_contain_text("vault:read")
    expect(page.locator("dl.details")).not_to_contain_text("vault:write")

    page.get_by_role("link", name="Rotate key").click()
    expect(page.locator("main")).to_contain_text("Its current keys stop working")
    page.get_by_role("button", name="Rotate key").click()
    page.get_by_role("heading", name="New key for researcher").wait_for()
    new_key = shown_key(page)
    assert new_key != key
    with httpx.Client(base_url=server.base_url, headers=auth(new_key)) as agent:
        me = agent.get("/v0/whoami").json()
        assert (me["name"], me["scopes"]) == ("researcher", ["vault:read"])
    page.get_by_role("link", name="Done").click()
    expect(page.locator("main")).to_contain_text(new_key[:13])
    expect(page.locator("main")).to_contain_text("crawler")  # the rotation kept the label
    expect(page.locator("main")).not_to_contain_text(new_key[13:])

    page.get_by_role("link", name="Identities").click()
    row = page.get_by_role("row").filter(has_text="researcher")
    expect(row).to_contain_text("vault:read")
    expect(row).to_contain_text(new_key[:13])
    expect(row).to_contain_text("requests")
    watched.shot("identities")
    row.get_by_role("link", name="researcher").click()
    page.get_by_role("link", name="Delete identity").click()
    expect(page.locator("main")).to_contain_text("its keys and its 2 credentials?")
    page.get_by_role("button", name="Delete researcher and 2 credentials").click()
    page.get_by_role("heading", name="Identities", exact=True).wait_for()
    expect(page.locator("main")).not_to_contain_text("researcher")
    with httpx.Client(base_url=server.base_url, headers=auth(new_key)) as agent:
        assert agent.get("/v0/vault").status_code == 401
    assert watched.csp_violations() == []
    watched.context.close()


def test_each_kind_of_session_stays_on_its_own_pages(
    browser: Any, server: ServerProcess, tmp_path: Path
) -> None:
    assert server.api_key is not None
    ops = new_platform_key(tmp_path / "server-data", cwd=tmp_path)
    fleet = Watched(browser, server.base_url)
    platform_sign_in(fleet.page, ops)
    for path in ("/credentials", "/activity", "/add"):
        fleet.page.goto(path)
        fleet.page.get_by_role("heading", name="Identities", exact=True).wait_for()
    expect(fleet.page.get_by_role("navigation", name="Main")).not_to_contain_text("Credentials")
    fleet.page.get_by_role("button", name="Sign out").click()
    fleet.page.get_by_role("heading", name="Sign in").wait_for()

    agent = Watched(browser, server.base_url)
    sign_in(agent.page, server.api_key)
    expect(agent.page.get_by_role("navigation", name="Main")).not_to_contain_text("Identities")
    agent.page.goto("/identities")
    agent.page.get_by_role("heading", name="Credentials", exact=True).wait_for()
    assert fleet.csp_violations() == agent.csp_violations() == []
    fleet.context.close()
    agent.context.close()


def test_the_identities_pages_fit_a_390_px_phone(
    browser: Any, server: ServerProcess, tmp_path: Path
) -> None:
    ops = new_platform_key(tmp_path / "server-data", cwd=tmp_path)
    made = httpx.post(
        server.base_url + "/v0/platform/identities",
        json={"name": "a-rather-long-agent-name-for-a-phone-screen"},
        headers=auth(ops),
    ).json()
    context = browser.new_context(base_url=server.base_url, viewport={"width": 390, "height": 844})
    page = context.new_page()
    platform_sign_in(page, ops)
    for path in ("/identities", f"/identities/{made['identityId']}", "/identities/new"):
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
    context.close()
