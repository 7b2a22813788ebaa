"""What the browser tests share: Debian's chromium driven by Playwright, a page that
keeps its console output (to find CSP violations), signing in, and finding
controls without an accessible name."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI

__all__ = ["SCREENSHOTS", "Watched", "launch_browser", "sign_in", "unlabelled_controls"]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = os.environ.get("LOOMAL_CONSOLE_SCREENSHOTS")
"""A directory; relative to where pytest starts (each test runs in its own tmp dir)."""
if SCREENSHOTS:
    SCREENSHOTS = os.path.abspath(SCREENSHOTS)


def launch_browser() -> Iterator[Any]:
    """The browser the tests drive; skips (fails with CI=true) without chromium."""
    if not os.path.exists(CHROMIUM):
        message = "chromium is not installed (apt-get install -y chromium)"
        if IN_CI:
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Watched:
    """A browser page whose console output is kept, to find CSP violations."""

    def __init__(self, browser: Any, base_url: str) -> None:
        self.context = browser.new_context(
            base_url=base_url, viewport={"width": 1100, "height": 680}
        )
        self.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
        self.page = self.context.new_page()
        self.messages: list[str] = []
        self.page.on("console", lambda m: self.messages.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.messages.append(f"pageerror: {e}"))

    def csp_violations(self) -> list[str]:
        return [m for m in self.messages if "Content Security Policy" in m or "Refused to" in m]

    def shot(self, name: str) -> None:
        if SCREENSHOTS:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            self.page.evaluate("window.scrollTo(0, 0)")
            self.page.screenshot(path=str(Path(SCREENSHOTS) / f"console-{name}.png"))


def sign_in(page: Any, api_key: str) -> None:
    page.goto("/")
    page.get_by_label("API key").fill(api_key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Credentials", exact=True).wait_for()


def unlabelled_controls(page: Any) -> list[str]:
    """Controls without an accessible name (label, aria-label or text)."""
    found: list[str] = page.evaluate(
        """() => [...document.querySelectorAll(
                   'input:not([type=hidden]), select, textarea, button, a[href]')]
             .filter(e => !e.closest('[hidden]'))
             .filter(e => !((e.labels && e.labels.length) || e.getAttribute('aria-label')
                            || e.textContent.trim()))
             .map(e => e.outerHTML)"""
    )
    return found
