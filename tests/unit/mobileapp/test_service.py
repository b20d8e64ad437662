"""The app's steps (MobileApp) while the person is slower than the app: it waits for the browser.

The service is the real one on loopback; the app waits in a thread of its own, as it would on a
phone, while the test plays the person at the browser.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import pytest

from tests.support.identity_flows import add_operator
from tests.unit.mobileapp.conftest import PIN, open_portal
from zorgid.mobileapp.client import AppClient
from zorgid.mobileapp.errors import LoginEndedError
from zorgid.mobileapp.keystore import Home
from zorgid.mobileapp.qr import parse_pointer
from zorgid.mobileapp.service import MobileApp

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.server import Live


def activated_app(live: Live, home: Path, *, wait_timeout: float = 40.0) -> MobileApp:
    mobile = MobileApp(
        home=Home(home),
        connect=lambda url: AppClient(url, lang="en", wait_timeout=wait_timeout),
        label="test phone",
    )
    issued = add_operator(live.container, name="Olga Operator", email="olga@zorgid.test")
    mobile.activate(parse_pointer(issued.qr_text), PIN)
    return mobile


class Waiting(threading.Thread):
    """``wait_for_browser`` in a thread of its own: the challenge, or what went wrong."""

    def __init__(self, wait: object) -> None:
        super().__init__(daemon=True)
        self._wait = wait
        self.challenge: str | None = None
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            self.challenge = self._wait()  # type: ignore[operator]
        except Exception as error:  # noqa: BLE001 - handed to the test thread
            self.error = error


@pytest.mark.parametrize(
    "wait_timeout", [40.0, 0.2], ids=["one-long-poll", "polls-cut-short-on-the-way"]
)
def test_the_app_waits_until_the_browser_has_the_code_then_approves(
    live: Live, tmp_path: Path, wait_timeout: float
) -> None:
    mobile = activated_app(live, tmp_path / "home", wait_timeout=wait_timeout)
    portal = open_portal(live)
    pending = mobile.start_login(parse_pointer(portal.qr))
    waiting = Waiting(lambda: mobile.wait_for_browser(pending))
    waiting.start()
    time.sleep(0.6)
    assert waiting.is_alive()  # still waiting: the person has not typed the code yet
    assert portal.state() == "scanned"
    assert portal.type_code(pending.request.code).status_code == 200
    waiting.join(timeout=10)
    assert waiting.error is None
    assert waiting.challenge is not None
    outcome = mobile.approve(pending, waiting.challenge, PIN)
    assert (outcome.state, outcome.person_name) == ("approved", "Olga Operator")
    assert portal.state() == "approved"


def test_a_decline_while_the_app_waits_ends_the_wait(live: Live, tmp_path: Path) -> None:
    mobile = activated_app(live, tmp_path / "home")
    portal = open_portal(live)
    pointer = parse_pointer(portal.qr)
    pending = mobile.start_login(pointer)
    waiting = Waiting(lambda: mobile.wait_for_browser(pending))
    waiting.start()
    time.sleep(0.3)
    # The person says no (Ctrl-C in the CLI): the decline signs no challenge.
    assert mobile.decline(pending).state == "declined"
    waiting.join(timeout=10)
    assert isinstance(waiting.error, LoginEndedError)
    assert "declined" in waiting.error.public_message("en")
    assert portal.state() == "declined"
