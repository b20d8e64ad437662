"""The whole QR login in a real headless Chromium, driven as a person would.

The page is opened, photographed, and the QR code is read from the screenshot; the reference
app (``zorgid app``, a separate process) scans that picture, shows its code, the code is typed
into the page, the app approves with the PIN, and the page shows the person's name. Nothing in
the server knows it is being tested.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import sync_playwright

from tests.support.identity import PIN
from tests.support.identity_flows import add_operator
from tests.support.phone import run_app, scan_login

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import Page

    from tests.support.server import Live

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


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_person_logs_in_by_scanning_the_portal_qr_with_the_app(live: Live, tmp_path: Path) -> None:
    issued = add_operator(live.container, name="Olga Operator", email="olga@zorgid.test")
    home = tmp_path / "phone"
    activated = run_app(home, "activate", issued.qr_text, "--pin-stdin", stdin=PIN + "\n")
    assert activated.returncode == 0, activated.stderr

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = chromium.new_page(locale="en-GB")
            page.goto(live.url + "/")
            page.wait_for_selector("#qr svg")
            screenshot = tmp_path / "login-page.png"
            page.screenshot(path=str(screenshot), full_page=True)

            scanning = scan_login(home, str(screenshot), "--pin-stdin")
            page.wait_for_selector("#login[data-state=scanned]")
            page.fill("#code", scanning.code)
            page.click("#code-form button[type=submit]")
            approved = scanning.finish(PIN + "\n")  # the app asks the PIN once the code is in
            assert approved.returncode == 0, approved.stdout + approved.stderr
            page.wait_for_selector("#person-name", timeout=20000)
            assert page.inner_text("#person-name") == "Olga Operator"
            assert "Operator" in page.inner_text("#roles")
            # Chromium keeps the __Host- session cookie from http://127.0.0.1 (a secure
            # context), and a new page load is still logged in with it.
            kept = {c["name"]: c for c in page.context.cookies()}
            assert kept["__Host-zorgid_session"]["secure"] is True
            assert kept["__Host-zorgid_session"]["path"] == "/"
            page.goto(live.url + "/")
            assert page.inner_text("#person-name") == "Olga Operator"
        finally:
            chromium.close()


def _log_in(page: Page, home: Path, tmp_path: Path, name: str) -> None:
    """Scan the page's QR with the app, type its code, approve with the PIN."""
    page.wait_for_selector("#qr svg")
    screenshot = tmp_path / f"{name}.png"
    page.screenshot(path=str(screenshot), full_page=True)
    scanning = scan_login(home, str(screenshot), "--pin-stdin")
    page.wait_for_selector("#login[data-state=scanned]")
    page.fill("#code", scanning.code)
    page.click("#code-form button[type=submit]")
    approved = scanning.finish(PIN + "\n")
    assert approved.returncode == 0, approved.stdout + approved.stderr


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_old_login_logs_in_again_to_decide_and_finds_its_form_as_it_left_it(
    live: Live, tmp_path: Path
) -> None:
    issued = add_operator(live.container, name="Olga Operator", email="olga@zorgid.test")
    home = tmp_path / "phone"
    activated = run_app(home, "activate", issued.qr_text, "--pin-stdin", stdin=PIN + "\n")
    assert activated.returncode == 0, activated.stderr
    typed = {
        "#f-id": "zorgmail-plus",
        "#f-name": "ZorgMail Plus",
        "#f-vendor": 'Vendor "Quoted" & Co',
        "#f-supports": "Logging in with ZORG-ID (OpenID Connect)",
        "#f-website": "https://zorgmail.example.nl",
    }

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = chromium.new_page(locale="en-GB")
            page.goto(live.url + "/")
            _log_in(page, home, tmp_path, "first")
            page.wait_for_selector("#person-name", timeout=20000)
            live.clock.advance(10 * 60)
            page.goto(live.url + "/beheer/toepassingen")  # in use: the session lives on
            live.clock.advance(6 * 60)  # but its login is now 16 minutes old
            for selector, value in typed.items():
                page.fill(selector, value)
            page.click("#add-form button[type=submit]")

            page.wait_for_selector("#fresh-login")
            page.click("#fresh-login form button[type=submit]")
            page.wait_for_selector("#fresh")
            _log_in(page, home, tmp_path, "again")

            page.wait_for_url(live.url + "/beheer/toepassingen", timeout=20000)
            page.wait_for_selector("#add-form")
            assert {s: page.input_value(s) for s in typed} == typed
            page.click("#add-form button[type=submit]")
            page.wait_for_url("**/beheer/toepassingen?gedaan=toegevoegd", timeout=20000)
            assert "ZorgMail Plus" in page.inner_text("main")
        finally:
            chromium.close()
