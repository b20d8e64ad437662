"""The whole QR login in a real headless Chromium, driven as a person would.

The page is opened, photographed, and the QR code is read from the screenshot; the reference
app (``zorgid app``, a separate process) scans that picture, shows its code, the code is typed
into the page, the app approves with the PIN, and the page shows the person's name. Nothing in
the server knows it is being tested.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import sync_playwright

from tests.support.identity_flows import add_operator

if TYPE_CHECKING:
    from pathlib import Path

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
PIN = "24680"


def app(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the reference app as a person at a terminal would (with --pin-stdin)."""
    return subprocess.run(
        [sys.executable, "-m", "zorgid", "app", "--home", str(home), *args, "--lang", "en"],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_person_logs_in_by_scanning_the_portal_qr_with_the_app(live: Live, tmp_path: Path) -> None:
    issued = add_operator(live.container, name="Olga Operator", email="olga@zorgid.test")
    home = tmp_path / "phone"
    activated = app(home, "activate", issued.qr_text, "--pin-stdin", stdin=PIN + "\n")
    assert activated.returncode == 0, activated.stderr

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = chromium.new_page(locale="en-GB")
            page.goto(live.url + "/")
            page.wait_for_selector("#qr svg")
            screenshot = tmp_path / "login-page.png"
            page.screenshot(path=str(screenshot), full_page=True)

            scanner = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "zorgid",
                    "app",
                    "--home",
                    str(home),
                    "login",
                    str(screenshot),
                    "--pin-stdin",
                    "--lang",
                    "en",
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            assert scanner.stdout is not None
            assert scanner.stdin is not None
            code = None
            shown = []
            for line in scanner.stdout:
                shown.append(line)
                found = re.search(r"Code:\s*([0-9]{3}\s?[0-9]{3})", line)
                if found:
                    code = found.group(1).replace(" ", "")
                    break
            assert code, "".join(shown) + scanner.stderr.read()  # type: ignore[union-attr]
            page.wait_for_selector("#login[data-state=scanned]")
            page.fill("#code", code)
            page.click("#code-form button[type=submit]")
            scanner.stdin.write(PIN + "\n")
            scanner.stdin.flush()
            page.wait_for_selector("#person-name", timeout=20000)
            assert page.inner_text("#person-name") == "Olga Operator"
            assert "Operator" in page.inner_text("#roles")
            out, err = scanner.communicate(timeout=30)
            assert scanner.returncode == 0, out + err
        finally:
            chromium.close()
