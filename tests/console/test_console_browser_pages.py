"""What a person sees on the credential, list and Activity pages, in a real browser
against a real ``loomal serve`` (#31 item 12)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import ServerProcess, new_key
from tests.console.browsing import Watched, sign_in
from tests.console.test_console_browser_edit import agent

pytestmark = pytest.mark.slow

SEED = "JBSWY3DPEHPK3PXP"


def test_a_login_shows_its_code_like_a_totp_credential_without_reveal(
    browser: Any, server: ServerProcess
) -> None:
    assert server.api_key is not None
    with agent(server) as api:
        api.put("github", json={"type": "LOGIN", "data": {"password": "pw-1", "totp": SEED}})
        api.put("plain", json={"type": "LOGIN", "data": {"password": "pw-2"}})
        watched = Watched(browser, server.base_url)
        page = watched.page
        sign_in(page, server.api_key)
        page.goto("/credentials/github")
        expect(page.locator("#totp-code")).to_have_text(re.compile(r"^[0-9]{6}$"))
        assert page.get_by_role("heading", name="Current code").is_visible()
        assert "pw-1" not in page.content()  # the code, not the password
        page.goto("/credentials/plain")
        assert page.get_by_role("heading", name="Current code").count() == 0
        events = api.get(server.base_url + "/v0/audit", params={"limit": 100}).json()["events"]
    assert "get" not in {e["action"] for e in events}  # no Reveal was needed
    assert watched.csp_violations() == []
    watched.context.close()


def test_a_vault_use_session_is_not_offered_reveal(
    browser: Any, server: ServerProcess, tmp_path: Path
) -> None:
    assert server.api_key is not None
    with agent(server) as api:
        api.put("stripe", json={"type": "API_KEY", "data": {"key": "sk_1"}})
    use_key = new_key(
        "add-key",
        "default",
        "--scopes",
        "vault:use",
        "--data-dir",
        str(tmp_path / "server-data"),
        cwd=tmp_path,
    )
    watched = Watched(browser, server.base_url)
    page = watched.page
    sign_in(page, use_key)
    page.get_by_role("link", name="stripe").click()
    page.get_by_role("heading", name="Secret fields").wait_for()
    assert page.get_by_role("button", name="Reveal").count() == 0
    assert "may use the credential but not see its secret fields" in page.inner_text("main")
    watched.context.close()


def test_no_backup_code_is_offered_when_none_is_left(browser: Any, server: ServerProcess) -> None:
    assert server.api_key is not None
    with agent(server) as api:
        api.put("2fa", json={"type": "TOTP", "data": {"secret": SEED, "backupCodes": ["only-1"]}})
        watched = Watched(browser, server.base_url)
        page = watched.page
        sign_in(page, server.api_key)
        page.goto("/credentials/2fa")
        page.get_by_text("1 unused backup code", exact=True).wait_for()
        page.get_by_role("link", name="Use a backup code").click()
        page.get_by_role("button", name="Use a backup code").click()
        assert page.locator("#backup-code").inner_text() == "only-1"
        page.get_by_role("link", name="Back to 2fa").click()
        page.get_by_text("0 unused backup codes", exact=True).wait_for()
        assert page.get_by_role("link", name="Use a backup code").count() == 0
        page.goto("/credentials/2fa/backup-code")  # an old link or a second tab
        page.get_by_role("heading", name="No backup codes left").wait_for()
        assert "Something went wrong" not in page.content()
    watched.context.close()


def test_the_list_and_activity_fit_a_390_px_phone(browser: Any, server: ServerProcess) -> None:
    assert server.api_key is not None
    with agent(server) as api:
        metadata = {
            "service": "stripe",
            "baseUrl": "https://api.stripe.com/v1/a/rather/long/path/that/does/not/wrap",
            "allowedHosts": ["api.stripe.com", "files.stripe.com"],
        }
        api.put(
            "stripe-production-billing-key",
            json={"type": "API_KEY", "data": {"key": "k"}, "metadata": metadata},
        )
        api.get("stripe-production-billing-key")
    context = browser.new_context(base_url=server.base_url, viewport={"width": 390, "height": 844})
    page = context.new_page()
    sign_in(page, server.api_key)
    for path in ("/credentials", "/activity", "/credentials/stripe-production-billing-key"):
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
    page.goto("/credentials")
    labels = page.evaluate(  # each cell names its column when the table is stacked
        """[...document.querySelectorAll('tbody tr:first-child td')]
             .map(td => getComputedStyle(td, '::before').content)"""
    )
    assert labels == ['"Name"', '"Type"', '"Metadata"', '"Last used"', '"Expires"']
    context.close()


def test_activity_has_filters_a_detail_view_and_seconds(
    browser: Any, server: ServerProcess
) -> None:
    assert server.api_key is not None
    with agent(server) as api:
        api.put("a", json={"type": "LOGIN", "data": {"password": "p"}})
        api.put("b", json={"type": "LOGIN", "data": {"password": "p"}})
        api.get("a")
        api.get("missing")  # not_found
        api.get("b")
    watched = Watched(browser, server.base_url)
    page = watched.page
    sign_in(page, server.api_key)
    page.get_by_role("link", name="Activity").click()

    def rows() -> list[list[str]]:
        return [r.inner_text().split("\t")[:4] for r in page.locator("tbody tr").all()]

    first = page.locator("tbody tr").first.locator("td").first.inner_text()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", first), first
    page.get_by_label("Action").select_option("get")
    page.get_by_role("button", name="Apply").click()
    assert {r[1] for r in rows()} == {"get"} and len(rows()) == 3
    page.get_by_label("Outcome").select_option("failed")
    page.get_by_role("button", name="Apply").click()
    assert [r[1:4] for r in rows()] == [["get", "missing", "not_found"]]
    page.get_by_label("Outcome").select_option("")
    page.get_by_label("Credential").fill("a")
    page.get_by_role("button", name="Apply").click()
    assert [r[1:4] for r in rows()] == [["get", "a", "ok"]]
    assert "action=get" in page.url and "credential=a" in page.url
    page.locator("tbody tr").first.get_by_text("Details").click()
    detail = page.locator("tbody tr details").first.inner_text()
    for label in ("Event", "Key", "Client", "Identity", "Requests"):
        assert label in detail, label
    watched.context.close()
