"""The reference app (``zorgid app``) in its own process, as a person at a terminal runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tests.support.identity import PIN
from tests.support.server import Browser, LoginPage, read_login_page

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.server import Live

CODE_LINE = re.compile(r"Code:\s*([0-9]{3}\s?[0-9]{3})")


def app_command(home: Path, *args: str) -> list[str]:
    """The command line of the app with its files in ``home``, speaking English."""
    return [sys.executable, "-m", "zorgid", "app", "--home", str(home), *args, "--lang", "en"]


def run_app(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run the app to its end."""
    return subprocess.run(
        app_command(home, *args),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@dataclass
class ScanningApp:
    """An app that has scanned a login QR and shows its code; it waits for the browser."""

    process: subprocess.Popen[str]
    code: str
    printed: str

    def finish(self, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """Give it ``stdin`` (the PIN) and wait for its end; ``stdout`` has all it printed."""
        out, err = self.process.communicate(stdin, timeout=60)
        return subprocess.CompletedProcess(
            self.process.args, self.process.returncode, self.printed + out, err
        )


def scan_login(home: Path, qr: str, *extra: str) -> ScanningApp:
    """Start ``app login`` on ``qr`` and read its output up to the code it shows."""
    process = subprocess.Popen(
        app_command(home, "login", qr, *extra),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    printed = []
    for line in process.stdout:
        printed.append(line)
        found = CODE_LINE.search(line)
        if found:
            return ScanningApp(process, found.group(1).replace(" ", ""), "".join(printed))
    out, err = process.communicate(timeout=60)
    msg = f"the app showed no code:\n{''.join(printed)}{out}{err}"
    raise AssertionError(msg)


@dataclass
class Ceremony:
    """One QR login attempt: what the app printed and where the browser ended."""

    app: subprocess.CompletedProcess[str]
    page: LoginPage
    browser: Browser


def ceremony(live: Live | str, home: Path, *, pin: str = PIN, deny: bool = False) -> Ceremony:
    """The browser opens the portal; the app scans, shows the code; it is typed; the PIN given."""
    browser = Browser(live if isinstance(live, str) else live.url)
    page = read_login_page(browser.get("/").text)
    scanning = scan_login(home, page.qr_text, "--deny" if deny else "--pin-stdin")
    if not deny:
        typed = browser.post(
            f"/login/{page.login_id}/code",
            data={"code": scanning.code, "csrf": page.csrf},
            headers={"accept": "application/json"},
        )
        assert typed.status_code == 200, typed.text
    result = scanning.finish(pin + "\n")
    return Ceremony(result, page, browser)
