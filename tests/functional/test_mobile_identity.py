"""Activation and QR login, branch by branch, as a person sees them: the reference app's output,
the browser's pages, and what the audit log recorded. The service runs for real on loopback, on
SQLite and on PostgreSQL; the app is the real ``zorgid app`` command in its own process.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import httpx
import pytest
from sqlalchemy import select

from tests.support.identity import PIN
from tests.support.identity_flows import add_operator
from tests.support.phone import Ceremony, ceremony, run_app, scan_login
from tests.support.server import Browser, Live, read_login_page
from zorgid.audit.log import verify_chain
from zorgid.audit.models import AuditEvent
from zorgid.identity.models import Device, DeviceStatus
from zorgid.login.events import LocalEvents
from zorgid.web.cookies import SESSION

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

WRONG = "97531"


def actions(live: Live) -> list[str]:
    """The audit log's actions in order (and the chain must be intact)."""
    with live.container.unit_of_work() as session:
        assert verify_chain(session, live.container.keys.audit).intact
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def activated(live: Live, tmp_path: Path, name: str = "Olga Operator") -> Path:
    """A home folder whose app is activated for a new operator."""
    issued = add_operator(
        live.container, name=name, email=f"{name.split(maxsplit=1)[0].lower()}@zorgid.test"
    )
    home = tmp_path / f"phone-{name.split(maxsplit=1)[0].lower()}"
    result = run_app(home, "activate", issued.qr_text, "--pin-stdin", stdin=PIN + "\n")
    assert result.returncode == 0, result.stdout + result.stderr
    return home


def browser_state(c: Ceremony) -> str:
    """The login's state as the waiting page learns it."""
    state: str = c.browser.get(f"/login/{c.page.login_id}/status").json()["state"]
    return state


def awaited_logins(live: Live) -> Mapping[str, object]:
    """The logins that somebody (an event stream, a long poll) waits for on the live service."""
    events = live.container.events
    assert isinstance(events, LocalEvents)  # PostgresEvents too
    return events._waiters


def waited_on(live: Live, login_id: str, *, within: float) -> bool:
    """Whether somebody waits for ``login_id`` within ``within`` seconds."""
    deadline = time.monotonic() + within
    while login_id not in awaited_logins(live):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def released(live: Live, login_id: str, *, within: float) -> bool:
    """Whether nobody waits for ``login_id`` any more within ``within`` seconds."""
    deadline = time.monotonic() + within
    while login_id in awaited_logins(live):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_activation_shows_the_name_and_roles_and_is_audited(live: Live, tmp_path: Path) -> None:
    issued = add_operator(live.container, name="Olga Operator", email="olga@zorgid.test")
    home = tmp_path / "phone"
    result = run_app(home, "activate", issued.qr_text, "--pin-stdin", stdin=PIN + "\n")
    assert result.returncode == 0, result.stderr
    assert "Olga Operator" in result.stdout
    shown = run_app(home, "id", "--json")
    assert shown.returncode == 0, shown.stderr
    assert '"name": "Olga Operator"' in shown.stdout
    assert '"operator"' in shown.stdout
    assert '"status": "active"' in shown.stdout
    assert actions(live)[-2:] == ["activation.issued", "activation.redeemed"]


def test_a_used_activation_qr_is_refused_to_a_second_phone(live: Live, tmp_path: Path) -> None:
    issued = add_operator(live.container, name="Olga Operator", email="olga@zorgid.test")
    first = run_app(tmp_path / "one", "activate", issued.qr_text, "--pin-stdin", stdin=PIN + "\n")
    assert first.returncode == 0, first.stderr
    second = run_app(tmp_path / "two", "activate", issued.qr_text, "--pin-stdin", stdin=PIN + "\n")
    assert second.returncode == 1
    assert "already been used" in second.stdout + second.stderr
    assert "activation_used" in second.stdout + second.stderr
    assert actions(live).count("activation.redeemed") == 1
    assert actions(live)[-1] == "activation.refused"
    with live.container.unit_of_work() as session:
        assert len(session.scalars(select(Device)).all()) == 1


def test_an_expired_activation_qr_is_refused(live: Live, tmp_path: Path) -> None:
    issued = add_operator(live.container, name="Olga Operator", email="olga@zorgid.test")
    live.clock.advance(61 * 60)
    result = run_app(
        tmp_path / "phone", "activate", issued.qr_text, "--pin-stdin", stdin=PIN + "\n"
    )
    assert result.returncode == 1
    assert "expired" in result.stdout + result.stderr
    assert "activation.redeemed" not in actions(live)
    assert actions(live)[-1] == "activation.refused"


def test_login_succeeds_and_the_portal_shows_name_and_role(live: Live, tmp_path: Path) -> None:
    home = activated(live, tmp_path)
    done = ceremony(live, home)
    assert done.app.returncode == 0, done.app.stdout + done.app.stderr
    assert "ZORG-ID" in done.app.stdout  # who asks
    assert browser_state(done) == "approved"
    completed = done.browser.post(
        f"/login/{done.page.login_id}/complete", data={"csrf": done.page.csrf}
    )
    assert completed.status_code == 303
    raw = done.browser.flags[SESSION].lower()
    assert "httponly" in raw
    assert "secure" in raw
    assert "samesite=strict" in raw
    portal = done.browser.get("/")
    assert 'id="person-name">Olga Operator<' in portal.text
    assert "Operator" in portal.text
    assert actions(live)[-2:] == ["login.approved", "session.started"]
    # The session cookie is new: the login's cookie cannot complete the login a second time.
    again = done.browser.post(
        f"/login/{done.page.login_id}/complete",
        data={"csrf": done.page.csrf},
        headers={"accept": "application/json"},
    )
    assert again.status_code >= 400


def test_a_wrong_pin_is_refused_with_the_attempts_left(live: Live, tmp_path: Path) -> None:
    home = activated(live, tmp_path)
    done = ceremony(live, home, pin=WRONG)
    assert done.app.returncode == 1
    assert "Attempts left: 5" in done.app.stdout + done.app.stderr
    assert browser_state(done) == "confirmed"
    assert actions(live)[-1] == "pin.wrong"


def test_wrong_pins_lead_to_waiting_and_then_to_a_blocked_app(live: Live, tmp_path: Path) -> None:
    home = activated(live, tmp_path)
    for left in (5, 4, 3):
        done = ceremony(live, home, pin=WRONG)
        assert f"Attempts left: {left}" in done.app.stdout + done.app.stderr
    waiting = ceremony(live, home, pin=WRONG)
    assert waiting.app.returncode == 1
    assert "Wait 60 seconds" in waiting.app.stdout + waiting.app.stderr
    for wait in (60, 120):
        live.clock.advance(wait)
        ceremony(live, home, pin=WRONG)
    live.clock.advance(240)
    blocked = ceremony(live, home, pin=WRONG)
    assert blocked.app.returncode == 1
    assert "blocked" in blocked.app.stdout + blocked.app.stderr
    assert actions(live).count("pin.wrong") == 5
    assert actions(live)[-1] == "device.blocked"
    assert "pin.refused" in actions(live)  # the try during the wait was refused and recorded
    assert browser_state(blocked) == "failed"  # the waiting browser hears that it is over
    assert run_app(home, "id").returncode == 1  # the app wiped itself: activate again


def test_declining_in_the_app_ends_the_login_in_the_browser(live: Live, tmp_path: Path) -> None:
    home = activated(live, tmp_path)
    done = ceremony(live, home, deny=True)
    assert done.app.returncode == 0, done.app.stderr
    assert "declined" in done.app.stdout.lower()
    assert browser_state(done) == "declined"
    assert actions(live)[-1] == "login.declined"


def test_an_unknown_login_qr_is_refused_by_the_app(live: Live, tmp_path: Path) -> None:
    home = activated(live, tmp_path)
    fake = f"{live.url}/app/login/AAAAAAAAAAAAAAAAAAAAAA#BBBBBBBBBBBBBBBBBBBBBB"
    result = run_app(home, "login", fake, "--pin-stdin", stdin=PIN + "\n")
    assert result.returncode == 1
    assert "login_unknown" in result.stdout + result.stderr


def test_an_expired_login_qr_is_refused_by_the_app(live: Live, tmp_path: Path) -> None:
    home = activated(live, tmp_path)
    browser = Browser(live.url)
    page = read_login_page(browser.get("/").text)
    live.clock.advance(live.container.settings.login_ttl_seconds + 1)
    result = run_app(home, "login", page.qr_text, "--pin-stdin", stdin=PIN + "\n")
    assert result.returncode == 1
    assert "expired" in result.stdout + result.stderr
    assert browser.get(f"/login/{page.login_id}/status").json()["state"] == "expired"


def test_a_revoked_device_cannot_log_in_and_wipes_itself(live: Live, tmp_path: Path) -> None:
    home = activated(live, tmp_path)
    with live.container.unit_of_work() as session:
        device = session.scalars(select(Device)).one()
        live.container.identity(session).revoke_device(device, actor="operator", source="cli")
    browser = Browser(live.url)
    page = read_login_page(browser.get("/").text)
    result = run_app(home, "login", page.qr_text, "--pin-stdin", stdin=PIN + "\n")
    assert result.returncode == 1
    assert "device_revoked" in result.stdout + result.stderr
    assert browser.get(f"/login/{page.login_id}/status").json()["state"] == "pending"
    assert actions(live)[-1] == "device.revoked"
    status = run_app(home, "id", "--json")
    assert '"status": "not_activated"' in status.stdout or '"status": "revoked"' in status.stdout
    with live.container.unit_of_work() as session:
        assert session.scalars(select(Device)).one().status is DeviceStatus.REVOKED


def test_revoking_the_phone_ends_the_portal_session_it_opened(live: Live, tmp_path: Path) -> None:
    home = activated(live, tmp_path)
    done = ceremony(live, home)
    assert done.app.returncode == 0, done.app.stdout + done.app.stderr
    done.browser.post(f"/login/{done.page.login_id}/complete", data={"csrf": done.page.csrf})
    assert 'id="person-name"' in done.browser.get("/").text
    with live.container.unit_of_work() as session:
        identity = live.container.identity(session)
        identity.revoke_devices_of(
            identity.person_by_email("olga@zorgid.test"), actor="operator", source="cli"
        )
    after = done.browser.get("/").text
    assert 'id="person-name"' not in after
    assert 'data-login="' in after  # back at the login page


def test_an_approved_login_cannot_be_completed_after_it_expired(live: Live, tmp_path: Path) -> None:
    home = activated(live, tmp_path)
    done = ceremony(live, home)
    assert browser_state(done) == "approved"
    live.clock.advance(live.container.settings.login_ttl_seconds + 1)
    late = done.browser.post(
        f"/login/{done.page.login_id}/complete",
        data={"csrf": done.page.csrf},
        headers={"accept": "application/json"},
    )
    assert late.status_code == 410
    assert late.json()["error"]["code"] == "login_expired"
    assert SESSION not in done.browser.flags


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_another_app_cannot_take_over_a_scanned_login(live: Live, tmp_path: Path) -> None:
    first = activated(live, tmp_path, "Olga Operator")
    second = activated(live, tmp_path, "Piet Operator")
    browser = Browser(live.url)
    page = read_login_page(browser.get("/").text)
    taker = scan_login(first, page.qr_text, "--pin-stdin")
    thief = run_app(second, "login", page.qr_text, "--pin-stdin", stdin=PIN + "\n")
    taker.process.kill()
    taker.process.communicate()
    assert thief.returncode == 1
    assert "login_taken" in thief.stdout + thief.stderr


def test_a_browser_that_leaves_its_event_stream_is_let_go_at_once(live: Live) -> None:
    browser = Browser(live.url)
    page = read_login_page(browser.get("/").text)
    cookie = next(v for (n, _p), v in browser.cookies.items() if n == "zorgid_login")
    with httpx.stream(
        "GET",
        f"{live.url}/login/{page.login_id}/events",
        headers={"cookie": f"zorgid_login={cookie}"},
        timeout=30,
    ) as stream:
        # Keep the line iterator: dropping it closes httpx's stream, and so the connection.
        lines = stream.iter_lines()
        data = next(line for line in lines if line.startswith("data:"))
        assert json.loads(data[5:]) == {"state": "pending"}
        assert waited_on(live, page.login_id, within=0)
    # The connection is closed with the stream unfinished; the server stops waiting for the
    # login at once, not at its next 5-second turn.
    assert released(live, page.login_id, within=2)


def test_an_app_killed_while_it_waits_for_the_code_ends_its_poll_at_once(
    live: Live, tmp_path: Path
) -> None:
    home = activated(live, tmp_path)
    browser = Browser(live.url)
    page = read_login_page(browser.get("/").text)
    app = scan_login(home, page.qr_text, "--pin-stdin")
    assert waited_on(live, page.login_id, within=20)  # its long poll waits for the code
    app.process.kill()
    app.process.communicate()
    assert released(live, page.login_id, within=2)  # not at the poll's next 5-second turn
    assert browser.get(f"/login/{page.login_id}/status").json()["state"] == "scanned"
