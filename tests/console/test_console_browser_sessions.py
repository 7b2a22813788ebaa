"""Sessions another site tries to plant or swap, in a real browser against a real
``loomal serve`` (#28 items 9-11). The "other site" is a small server this test
starts on another loopback port: cookies ignore ports, so it can set the
console's cookie."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, loomal, new_key
from tests.console.browsing import Watched, sign_in
from tests.console.test_console_browser_edit import agent
from tests.console.test_console_http import csrf_of

pytestmark = pytest.mark.slow


@contextmanager
def page_that_sets(cookie: str) -> Iterator[str]:
    """A page on another loopback port whose answer sets ``cookie``; its URL."""

    class Tosser(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><title>Cat pictures</title><p>Nothing to see.</p>"
            self.send_response(200)
            self.send_header("Set-Cookie", cookie)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Tosser)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_a_cookie_tossed_from_another_port_signs_no_one_in_as_someone_else(
    browser: Any, server: ServerProcess, tmp_path: Path
) -> None:
    assert server.api_key is not None
    data_dir = str(tmp_path / "server-data")
    mallory_key = new_key("create", "mallory", "--data-dir", data_dir, cwd=tmp_path)
    with httpx.Client(base_url=server.base_url) as mallory:  # mallory's own sign-in
        form = mallory.get("/sign-in")
        mallory.post("/sign-in", data={"csrf": csrf_of(form.text), "api_key": mallory_key})
        mallorys_session = mallory.cookies["loomal_session"]
    watched = Watched(browser, server.base_url)
    page = watched.page
    sign_in(page, server.api_key)  # the victim, as "default"
    with page_that_sets(f"loomal_session={mallorys_session}; Path=/") as elsewhere:
        page.goto(elsewhere)
    page.goto("/add")
    page.get_by_label("Name", exact=True).fill("my-bank")
    page.locator("#f-LOGIN-password").fill("victims-secret")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("heading", name="Sign in again").wait_for()
    assert "Nothing was saved" in page.inner_text("main")
    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {mallory_key}"}
    ) as api:
        assert api.get("/v0/vault").json()["credentials"] == []  # nothing reached mallory
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, server.api_key)  # signing in again works as before
    watched.context.close()


def test_a_sign_in_link_for_another_identity_asks_first(
    browser: Any, server: ServerProcess, tmp_path: Path
) -> None:
    assert server.api_key is not None
    data_dir = str(tmp_path / "server-data")
    new_key("create", "mallory", "--data-dir", data_dir, cwd=tmp_path)

    def link() -> str:
        made = loomal(
            "identity",
            "login-link",
            "mallory",
            "--url",
            server.base_url,
            "--data-dir",
            data_dir,
            cwd=tmp_path,
        )
        assert made.returncode == 0, made.stderr
        return made.stdout.strip().splitlines()[-1]

    watched = Watched(browser, server.base_url)
    page = watched.page
    sign_in(page, server.api_key)
    page.goto(link())
    question = page.get_by_role("alert")
    question.wait_for()
    assert "You are signed in as default. This sign-in link is for mallory." in (
        question.inner_text()
    )
    page.get_by_role("button", name="Stay signed in as default").click()
    page.get_by_role("heading", name="Credentials", exact=True).wait_for()
    assert "Signed in as default" in page.locator("header").inner_text()
    page.goto(link())
    page.get_by_role("button", name="Sign in as mallory").click()
    page.get_by_role("heading", name="Credentials", exact=True).wait_for()
    assert "Signed in as mallory" in page.locator("header").inner_text()
    assert watched.csp_violations() == []
    watched.context.close()


def test_a_write_key_without_read_uses_a_backup_code_and_edits_custom(
    browser: Any, server: ServerProcess, tmp_path: Path
) -> None:
    assert server.api_key is not None
    with agent(server) as api:
        api.put(
            "2fa",
            json={
                "type": "TOTP",
                "data": {"secret": "JBSWY3DPEHPK3PXP", "backupCodes": ["c-1", "c-2"]},
            },
        )
        api.put("bag", json={"type": "CUSTOM", "data": {"a": "1"}})
        writer = new_key(
            "add-key",
            "default",
            "--scopes",
            "vault:write,vault:use",
            "--data-dir",
            str(tmp_path / "server-data"),
            cwd=tmp_path,
        )
        watched = Watched(browser, server.base_url)
        page = watched.page
        sign_in(page, writer)
        page.goto("/credentials/2fa")
        page.get_by_role("link", name="Use a backup code").click()
        page.get_by_role("button", name="Use a backup code").click()
        assert page.locator("#backup-code").inner_text() == "c-1"  # shown, not lost
        assert api.get("2fa").json()["data"]["usedBackupCodes"] == ["c-1"]
        page.goto("/credentials/bag")
        page.get_by_role("link", name="Edit").click()
        page.get_by_text("its field names are not shown").wait_for()  # a page, not JSON
        page.get_by_label("Field name 1").fill("b")
        page.get_by_label("Value 1", exact=True).fill("2")
        page.get_by_role("button", name="Save").click()
        page.get_by_role("heading", name="bag", exact=True).wait_for()
        assert api.get("bag").json()["data"] == {"a": "1", "b": "2"}
    watched.context.close()
