"""The console in a real browser (Debian's chromium driven by Playwright) against
a real ``loomal serve``: what a person does, end to end.

Without chromium these tests skip, saying why; with CI=true they fail instead.
Set LOOMAL_CONSOLE_SCREENSHOTS=DIR to save the main pages as PNG files there
(docs/console-*.png are made this way).
"""

from __future__ import annotations

import re
import struct
import sys
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pyotp
import pytest
import zxingcpp
from playwright.sync_api import expect

from tests.conftest import ServerProcess, loomal, new_key
from tests.console.browsing import SCREENSHOTS, Watched, sign_in, unlabelled_controls

if TYPE_CHECKING:
    from typing_extensions import Buffer

pytestmark = pytest.mark.slow

SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # 160 bits: pyotp wants at least 112
OTPAUTH = f"otpauth://totp/GitHub:agent-bot?secret={SEED}&issuer=GitHub"

# One credential of each type: (name, type, {label: value}). Labels are the form's.
EACH_TYPE: list[tuple[str, str, dict[str, str]]] = [
    (
        "github",
        "LOGIN",
        {
            "Password": "login-pw-1",
            "URI": "https://github.com",
            "Username": "agent-bot",
            "TOTP seed (optional)": SEED,
        },
    ),
    (
        "stripe",
        "API_KEY",
        {"Key": "sk_live_abc123", "Service": "stripe", "Display prefix": "sk_live_...c123"},
    ),
    (
        "google",
        "OAUTH",
        {"Access token": "ya29.token", "Refresh token": "1//refresh", "Provider": "google"},
    ),
    ("github-2fa", "TOTP", {"Backup codes": "aaaa-1111\nbbbb-2222", "Account": "agent-bot"}),
    (
        "deploy-key",
        "SSH_KEY",
        {"Private key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n", "Key type": "ed25519"},
    ),
    (
        "orders-db",
        "DATABASE",
        {"Password": "db-pw-1", "Engine": "postgres", "Host": "db.internal", "Port": "5432"},
    ),
    ("mailer", "SMTP", {"Password": "smtp-pw-1", "Host": "smtp.example.com", "Port": "587"}),
    (
        "aws-prod",
        "AWS",
        {
            "Secret access key": "wJalrXUtnFEMI",
            "Access key ID": "AKIAEXAMPLE",
            "Region": "eu-west-1",
        },
    ),
    (
        "tls-cert",
        "CERTIFICATE",
        {"Private key": "-----BEGIN PRIVATE KEY-----\nMIIE\n", "Domain": "example.com"},
    ),
    (
        "corp-card",
        "CARD",
        {
            "Cardholder": "Agent Bot",
            "Card number": "4242424242424242",
            "Expiry month": "12",
            "Expiry year": "2030",
            "CVC": "123",
            "Last 4 digits": "4242",
        },
    ),
    (
        "warehouse",
        "SHIPPING_ADDRESS",
        {
            "Full name": "Agent Bot",
            "Address line 1": "1 Main St",
            "City": "Springfield",
            "Postcode": "12345",
            "Country": "US",
        },
    ),
    ("misc", "CUSTOM", {"Field name 1": "webhookSecret", "Value 1": "whsec_123"}),
]


def png(pixels: memoryview) -> bytes:
    """A greyscale PNG of ``pixels`` (rows of bytes): enough to hand the browser a QR image."""
    height, width = pixels.shape or (0, 0)
    flat = bytes(pixels)
    raw = b"".join(b"\0" + flat[y * width : (y + 1) * width] for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + (chunk(b"IEND", b""))
    )


def add_credential(page: Any, name: str, ctype: str, fields: dict[str, str]) -> None:
    page.get_by_role("navigation").get_by_role("link", name="Credentials").click()
    page.get_by_role("link", name="Add credential").click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Type", exact=True).select_option(ctype)
    visible = page.locator("fieldset.type-fields:not([hidden])")
    assert visible.get_attribute("data-type") == ctype
    if ctype == "TOTP":
        image = zxingcpp.create_barcode(OTPAUTH, zxingcpp.BarcodeFormat.QRCode).to_image(scale=6)
        # zxingcpp's stub leaves out the buffer protocol its Image implements.
        pixels = memoryview(cast("Buffer", image))
        visible.get_by_label("Or read a QR code image").set_input_files(
            files=[{"name": "qr.png", "mimeType": "image/png", "buffer": png(pixels)}]
        )
        page.get_by_text("Read an otpauth:// URI from the image.").wait_for()
        secret = visible.get_by_label("Secret", exact=True)
        assert secret.get_attribute("type") == "password"  # masked, with a toggle
        assert secret.get_attribute("autocomplete") == "off"
    for label, value in fields.items():
        visible.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name="Save").click()
    page.get_by_role("heading", name=name, exact=True).wait_for()


def test_a_person_manages_credentials_in_the_browser(browser: Any, server: ServerProcess) -> None:
    assert server.api_key is not None
    assert f"Console:    {server.base_url}/" in "".join(server.output)
    watched = Watched(browser, server.base_url)
    page = watched.page
    page.goto("/")
    watched.shot("sign-in")
    sign_in(page, server.api_key)
    assert page.get_by_text("No credentials yet").is_visible()
    assert "Add credential" in page.get_by_text("Add your first one").inner_text()

    for name, ctype, fields in EACH_TYPE:
        add_credential(page, name, ctype, fields)
    if SCREENSHOTS:
        page.goto("/add")
        page.get_by_label("Type", exact=True).select_option("DATABASE")
        watched.shot("add")
    page.get_by_role("link", name="Credentials").click()
    rows = page.locator("tbody tr")
    assert rows.count() == len(EACH_TYPE)
    listed = {
        r.locator("td").nth(0).inner_text().split()[0]: r.locator("td").nth(1).inner_text()
        for r in rows.all()
    }
    assert listed == {name: ctype for name, ctype, _ in EACH_TYPE}
    assert "agent-bot" in page.locator("tbody").inner_text()  # metadata shown
    assert "login-pw-1" not in page.content()
    watched.shot("list")

    page.get_by_label("Filter by type").select_option("TOTP")
    page.get_by_role("button", name="Apply").click()
    assert page.locator("tbody tr").count() == 1
    page.get_by_label("Filter by type").select_option("")
    page.get_by_label("Search by name").fill("github")
    page.get_by_role("button", name="Apply").click()
    assert page.locator("tbody tr").count() == 2

    # Reveal: fetched on demand, then copied.
    page.get_by_role("link", name="github", exact=True).click()
    assert "login-pw-1" not in page.content()
    page.get_by_role("button", name="Reveal").click()
    page.get_by_text("login-pw-1").wait_for()
    page.get_by_role("button", name="Copy password").click()
    assert page.evaluate("navigator.clipboard.readText()") == "login-pw-1"
    # A LOGIN holding a seed: the vault withholds it, and the live code appears instead.
    secret_fields = page.locator("#secret-fields").inner_text()
    assert SEED not in secret_fields and "withheld by the vault" in secret_fields
    expect(page.locator("#totp-code")).to_have_text(re.compile(r"^[0-9]{6}$"))
    watched.shot("credential")

    # TOTP: the live code matches RFC 6238, with a countdown.
    page.goto("/credentials/github-2fa")
    code = page.locator("#totp-code")
    expect(page.locator("#totp-code")).to_have_text(re.compile(r"^[0-9]{6}$"))
    totp = pyotp.TOTP(SEED)
    assert code.inner_text() in {totp.now(), totp.at(-30 + int(__import__("time").time()))}
    assert re.fullmatch(r"valid \d+ s more", page.locator("#totp-remaining").inner_text())
    assert page.get_by_text("GitHub").first.is_visible()  # issuer read from the QR code
    watched.shot("totp")

    # A backup code: confirmed, shown once, then listed as used.
    page.get_by_role("link", name="Use a backup code").click()
    page.get_by_role("button", name="Use a backup code").click()
    assert page.locator("#backup-code").inner_text() == "aaaa-1111"
    assert "1 unused backup code left" in page.locator("main").inner_text()
    page.get_by_role("link", name="Back to github-2fa").click()
    page.get_by_text("1 unused backup code", exact=True).wait_for()

    # Delete, after a confirmation that names the credential.
    page.goto("/credentials/mailer")
    page.get_by_role("link", name="Delete").click()
    assert "“mailer”" in page.locator("main").inner_text()
    page.get_by_role("button", name="Delete mailer").click()
    page.get_by_role("heading", name="Credentials", exact=True).wait_for()
    assert page.get_by_role("link", name="mailer", exact=True).count() == 0

    page.get_by_role("link", name="Activity").click()
    activity = page.locator("tbody").inner_text()
    assert activity.index("delete\tmailer") < activity.index("totp_use_backup\tgithub-2fa")
    watched.shot("activity")
    page.get_by_role("link", name="Older").click()  # newest first, paged
    assert "store\tgithub\tok" in page.locator("tbody").inner_text()

    for path in ("/credentials", "/add", "/credentials/github-2fa", "/activity"):
        page.goto(path)
        assert unlabelled_controls(page) == [], path

    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("API key").wait_for()
    page.goto("/credentials")
    assert page.get_by_label("API key").is_visible()
    assert watched.csp_violations() == []
    watched.context.close()


def test_keyboard_only_sign_in_and_add(browser: Any, server: ServerProcess) -> None:
    assert server.api_key is not None
    watched = Watched(browser, server.base_url)
    page = watched.page
    page.goto("/")
    # The field takes focus on arrival (autofocus: the browser applies it at its next
    # rendering step, which can come after the load event; typing before it lost keys).
    expect(page.get_by_label("API key")).to_be_focused()
    page.keyboard.type(server.api_key)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Credentials", exact=True).wait_for()
    tab_to(page, "Add credential")
    page.keyboard.press("Enter")
    page.get_by_label("Name", exact=True).wait_for()
    tab_to(page, "Name")
    page.keyboard.type("kb-login")
    page.keyboard.press("Tab")  # Type
    page.keyboard.press("ArrowDown")  # LOGIN → API_KEY: the form follows the choice
    assert page.locator("fieldset.type-fields:not([hidden])").get_attribute("data-type") == (
        "API_KEY"
    )
    page.keyboard.press("Tab")
    page.keyboard.type("typed-by-keyboard")  # Key
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="kb-login", exact=True).wait_for()
    tab_to(page, "Reveal")
    page.keyboard.press("Enter")
    page.get_by_text("typed-by-keyboard").wait_for()
    assert watched.csp_violations() == []
    page.evaluate(  # an injected inline script: blocked, and the watcher sees it
        """() => { const s = document.createElement('script');
                   s.textContent = 'window.inlineRan = true'; document.head.append(s); }"""
    )
    page.wait_for_timeout(200)
    assert watched.csp_violations() != [] and page.evaluate("window.inlineRan") is None
    watched.context.close()


def tab_to(page: Any, name: str) -> None:
    """Press Tab until the focused control is called ``name`` (keyboard only)."""
    for _ in range(30):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => { const e = document.activeElement;
                       return (e.labels && e.labels[0] ? e.labels[0].textContent
                               : e.getAttribute('aria-label') || e.textContent).trim(); }"""
        )
        if focused == name:
            return
    raise AssertionError(f"Tab never reached {name!r}")


def test_read_only_key_cannot_change_anything(
    browser: Any, server: ServerProcess, tmp_path: Path
) -> None:
    assert server.api_key is not None
    data_dir = str(tmp_path / "server-data")
    writer = Watched(browser, server.base_url)
    sign_in(writer.page, server.api_key)
    add_credential(writer.page, "github-2fa", "TOTP", {"Backup codes": "cccc-3333"})
    reader_key = new_key(
        "add-key", "default", "--scopes", "vault:read", "--data-dir", data_dir, cwd=tmp_path
    )
    watched = Watched(browser, server.base_url)
    page = watched.page
    sign_in(page, reader_key)
    assert page.get_by_role("link", name="Add credential").count() == 0
    page.get_by_role("link", name="github-2fa").click()
    for control in ("Edit", "Delete", "Use a backup code"):
        assert page.get_by_role("link", name=control).count() == 0
    page.get_by_role("button", name="Reveal").click()  # reading is allowed
    page.get_by_text("cccc-3333").wait_for()
    csrf = page.locator("#secrets").get_attribute("data-csrf")
    for path, form in (
        ("/add", {"name": "x", "type": "LOGIN", "data.password": "p"}),
        ("/credentials/github-2fa/delete", {}),
        ("/credentials/github-2fa/backup-code", {}),
    ):
        response = page.request.post(path, form={**form, "csrf": csrf}, max_redirects=0)
        assert response.status == 403, path
    page.goto("/credentials")
    assert page.locator("tbody tr").count() == 1
    assert watched.csp_violations() == []
    watched.context.close()
    writer.context.close()


def test_login_link_signs_in_once(browser: Any, server: ServerProcess, tmp_path: Path) -> None:
    result = loomal(
        "identity",
        "login-link",
        "default",
        "--url",
        server.base_url,
        "--data-dir",
        str(tmp_path / "server-data"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip().splitlines()[-1]
    assert url.startswith(server.base_url + "/login#lcl-")
    first = Watched(browser, server.base_url)
    first.page.goto(url)
    first.page.get_by_role("heading", name="Credentials", exact=True).wait_for()
    assert first.page.url == server.base_url + "/credentials"  # the token left the address bar
    assert "Signed in as default" in first.page.locator("header").inner_text()
    second = Watched(browser, server.base_url)
    second.page.goto(url)
    second.page.get_by_text("used, expired or unknown").wait_for()
    assert first.csp_violations() == [] and second.csp_violations() == []
    first.context.close()
    second.context.close()
    output = server.stop()
    assert url.split("#")[1] not in output
    assert sys.executable  # the CLI ran with this interpreter
