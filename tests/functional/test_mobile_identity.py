"""Activation and QR login, branch by branch, as a person sees them: the reference app's output,
the browser's pages, and what the audit log recorded. The service runs for real on loopback, on
SQLite and on PostgreSQL; the app is the real ``zorgid app`` command in its own process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from tests.support.identity import PIN
from tests.support.identity_flows import add_operator
from tests.support.phone import Ceremony, ceremony, run_app, scan_login
from tests.support.server import Browser, Live, read_login_page
from zorgid.audit.log import verify_chain
from zorgid.audit.models import AuditEvent
from zorgid.identity.models import Device, DeviceStatus

if TYPE_CHECKING:
    from pathlib import Path

WRONG = "97531"


def actions(live: Live) -> list[str]:
    """The audit log's actions in order (and the chain must be intact)."""
    with live.container.unit_of_work() as session:
        assert verify_chain(session).intact
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
    raw = done.browser.flags["zorgid_session"].lower()
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
    assert "zorgid_session" not in done.browser.flags


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
