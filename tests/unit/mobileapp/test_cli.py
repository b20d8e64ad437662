"""`zorgid app --home DIR activate|login|id` as formats.md describes them, against the service.

The service is the real one on loopback (``live``); the command runs in-process. What is checked
is what the person sees: the lines printed, the exit code, the files in the home directory, and
the browser's side of a login.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import unicodedata
from typing import TYPE_CHECKING

import httpx
import pytest
from sqlalchemy import select

from tests.support.identity_flows import add_member, add_operator, new_activation, revoke_device
from tests.unit.mobileapp.conftest import (
    PIN,
    WRONG_PIN,
    App,
    actions,
    open_portal,
    other_code,
    qr_png,
)
from zorgid.cli import app as cli_app
from zorgid.identity.models import Device, DeviceStatus, Role
from zorgid.mobileapp.client import AppClient

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.server import Live
    from tests.unit.mobileapp.conftest import Portal

OLGA = "olga@zorgid.test"
LINDE = ("90000123", "Huisartsenpraktijk De Linde")
ANKER = ("90000456", "Apotheek Het Anker")


def free_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def operator_qr(live: Live) -> str:
    return add_operator(live.container, name="Olga Operator", email=OLGA).qr_text


def petra_qr(live: Live) -> str:
    """Petra: two roles at De Linde, one at Het Anker, and operator of the service."""
    return add_member(
        live.container,
        name="Petra de Vries",
        email="petra@delinde.example",
        roles=[
            (Role.ADMINISTRATOR, LINDE),
            (Role.GEBRUIKER, LINDE),
            (Role.BEHEERDER, ANKER),
            (Role.OPERATOR, None),
        ],
    ).qr_text


def device_status(live: Live, device_id: str) -> DeviceStatus | None:
    with live.container.unit_of_work() as session:
        device = session.get(Device, device_id)
        return device.status if device else None


def device_count(live: Live) -> int:
    with live.container.unit_of_work() as session:
        return len(session.scalars(select(Device)).all())


# --- activate --------------------------------------------------------------------------------


def test_activating_from_a_png_saves_the_key_and_shows_the_id(
    app: App, live: Live, home: Path, tmp_path: Path
) -> None:
    image = tmp_path / "activeer.png"
    image.write_bytes(qr_png(petra_qr(live)))
    result = app("activate", image, "--pin-stdin", "--lang", "en", input=PIN + "\n")
    assert result.exit_code == 0, result.output
    assert "Petra de Vries" in result.stdout
    assert (
        "Huisartsenpraktijk De Linde (URA 90000123): Portal administrator, Healthcare worker"
        in result.stdout
    )
    assert "Apotheek Het Anker (URA 90000456): Portal beheerder" in result.stdout
    assert "Portal administrator, Healthcare worker, Portal beheerder, Operator" in result.stdout
    assert (home / "device-key.pem").stat().st_mode & 0o077 == 0
    device = json.loads((home / "device.json").read_text())
    assert device["service"]["url"] == live.url
    assert device_status(live, device["device_id"]) is DeviceStatus.ACTIVE
    assert actions(live)[-1] == "activation.redeemed"


def test_the_services_messages_are_dutch_by_default_and_english_on_request(
    app: App, live: Live, tmp_path: Path
) -> None:
    qr = operator_qr(live)
    app.activate(qr)
    dutch = App(tmp_path / "second-phone")
    result = dutch("activate", qr, "--pin-stdin", input=PIN + "\n")
    assert result.exit_code == 1
    assert "[activation_used]: Deze activatie-QR-code is al gebruikt." in result.stderr
    english = dutch("activate", qr, "--pin-stdin", "--lang", "en", input=PIN + "\n")
    assert english.exit_code == 1
    assert "[activation_used]: This activation QR code has already been used." in english.stderr
    assert device_count(live) == 1


def test_a_weak_pin_is_refused_before_the_service_hears_of_it(app: App, live: Live) -> None:
    qr = operator_qr(live)
    result = app("activate", qr, "--pin-stdin", input="12345\n")
    assert result.exit_code == 1
    assert "[pin_format]" in result.stderr
    assert actions(live)[-1] == "activation.issued"
    app.activate(qr)  # the code is still unused


def test_no_pin_on_standard_input_is_a_usage_error(app: App, live: Live) -> None:
    result = app("activate", operator_qr(live), "--pin-stdin", input="")
    assert result.exit_code == 2
    assert "[pin_missing]" in result.stderr
    assert actions(live)[-1] == "activation.issued"


def test_without_a_terminal_or_pin_stdin_the_pin_cannot_be_asked(app: App, live: Live) -> None:
    result = app("activate", operator_qr(live), input=f"{PIN}\n{PIN}\n")
    assert result.exit_code == 2
    assert "--pin-stdin" in result.stderr
    assert actions(live)[-1] == "activation.issued"


def test_a_second_activation_in_the_same_home_is_refused(app: App, live: Live) -> None:
    app.activate(operator_qr(live))
    again = new_activation(live.container, email=OLGA)
    result = app("activate", again.qr_text, "--pin-stdin", input=PIN + "\n")
    assert result.exit_code == 1
    assert "[already_activated]" in result.stderr
    assert device_count(live) == 1


def test_a_revoked_device_may_be_activated_again(app: App, live: Live) -> None:
    app.activate(operator_qr(live))
    old = app.device_id()
    revoke_device(live.container, old)
    app.activate(new_activation(live.container, email=OLGA).qr_text, pin=WRONG_PIN)
    assert app.device_id() != old
    assert device_status(live, app.device_id()) is DeviceStatus.ACTIVE
    assert device_status(live, old) is DeviceStatus.REVOKED


def test_an_expired_activation_code_shows_the_services_message(app: App, live: Live) -> None:
    qr = operator_qr(live)
    live.clock.advance(live.container.settings.activation_ttl_minutes * 60 + 1)
    result = app("activate", qr, "--pin-stdin", "--lang", "en", input=PIN + "\n")
    assert result.exit_code == 1
    assert "[activation_expired]: This activation QR code has expired." in result.stderr
    assert not (app.home / "device.json").exists()


def test_a_login_qr_given_to_activate_is_the_wrong_kind(app: App, portal: Portal) -> None:
    result = app("activate", portal.qr, "--pin-stdin", input=PIN + "\n")
    assert result.exit_code == 1
    assert "[qr_wrong_kind]" in result.stderr


@pytest.mark.parametrize("source", ["not a qr", "https://evil.example@zorgid/app/login/x#y"])
def test_a_bad_source_is_refused_without_a_traceback(app: App, source: str) -> None:
    result = app("activate", source, "--pin-stdin", input=PIN + "\n")
    assert result.exit_code == 1
    assert "[qr_invalid]" in result.stderr


def test_a_text_file_as_source_is_an_unreadable_image(app: App, tmp_path: Path) -> None:
    path = tmp_path / "qr.txt"
    path.write_text("hello")
    result = app("activate", path, "--pin-stdin", input=PIN + "\n")
    assert result.exit_code == 1
    assert "[image_unreadable]" in result.stderr


def test_an_unreachable_service_is_exit_2_naming_the_url(app: App) -> None:
    url = free_url()
    qr = f"{url}/app/activeer/{'A' * 22}#{'B' * 22}"
    result = app("activate", qr, "--pin-stdin", "--lang", "en", input=PIN + "\n")
    assert result.exit_code == 2
    assert "[service_unreachable]" in result.stderr
    assert url in result.stderr
    assert not (app.home / "device.json").exists()


def test_a_server_error_is_exit_2(app: App) -> None:
    # A broken service (a proxy's HTML 500): our real service cannot be made to answer this.
    def broken(url: str, **kwargs: object) -> AppClient:
        transport = httpx.MockTransport(lambda _: httpx.Response(500, text="<h1>oops</h1>"))
        return AppClient(url, lang=str(kwargs["lang"]), http=httpx.Client(transport=transport))

    app.client = broken
    qr = f"https://zorgid.example/app/activeer/{'A' * 22}#{'B' * 22}"
    result = app("activate", qr, "--pin-stdin", input=PIN + "\n")
    assert result.exit_code == 2
    assert "[service_response]" in result.stderr
    assert not (app.home / "device.json").exists()


# --- login -----------------------------------------------------------------------------------


def test_a_login_shows_who_asks_and_the_code_then_approves_with_the_pin(
    app: App, live: Live
) -> None:
    app.activate(operator_qr(live))
    # A browser whose User-Agent carries a C1 control (CSI) and a right-to-left override.
    portal = open_portal(live, user_agent=b"Mozilla/5.0 \x9b31mred \xe2\x80\xae")
    app.on_code = portal.type_code
    result = app("login", portal.qr, "--pin-stdin", "--lang", "en", input=PIN + "\n")
    assert result.exit_code == 0, result.output
    ((code, typed),) = portal.typed
    assert typed.status_code == 200, typed.text
    assert f"Code: {code}" in result.stdout.splitlines()
    host = live.url.removeprefix("http://")
    assert f"Login request for ZORG-ID ({host})" in result.stdout
    assert "Browser:    127.0.0.1" in result.stdout
    # The service names the browser from a fixed list; none of the header is shown.
    assert "Programme:  unknown browser" in result.stdout
    assert "Mozilla" not in result.stdout
    # The browser's User-Agent is not trusted with a terminal.
    assert not any(unicodedata.category(c) in {"Cc", "Cf"} for c in result.stdout.replace("\n", ""))
    assert "Approved: Olga Operator is logged in to ZORG-ID." in result.stdout
    assert portal.state() == "approved"


def test_the_code_line_is_the_same_in_dutch(app: App, live: Live, portal: Portal) -> None:
    app.activate(operator_qr(live))
    app.on_code = portal.type_code
    result = app("login", portal.qr, "--pin-stdin", input=PIN + "\n")
    assert result.exit_code == 0, result.output
    assert any(line.startswith("Code: ") for line in result.stdout.splitlines())
    assert portal.state() == "approved"


def test_deny_declines_without_a_pin(app: App, live: Live, portal: Portal) -> None:
    app.activate(operator_qr(live))
    result = app("login", portal.qr, "--deny", "--lang", "en")
    assert result.exit_code == 0, result.output
    assert "Declined" in result.stdout
    assert "Waiting" not in result.stdout
    assert portal.state() == "declined"
    assert actions(live)[-1] == "login.declined"


def test_deny_still_declines_when_the_browser_confirmed_first(
    app: App, live: Live, portal: Portal
) -> None:
    app.activate(operator_qr(live))
    app.on_code = portal.type_code  # the browser is quicker than the decline
    result = app("login", portal.qr, "--deny", "--lang", "en")
    assert result.exit_code == 0, result.output
    assert portal.typed[0][1].status_code == 200
    assert "Declined" in result.stdout
    assert portal.state() == "declined"


def test_a_wrong_pin_from_stdin_says_how_many_tries_are_left(
    app: App, live: Live, portal: Portal
) -> None:
    app.activate(operator_qr(live))
    app.on_code = portal.type_code
    result = app("login", portal.qr, "--pin-stdin", "--lang", "en", input=WRONG_PIN + "\n")
    assert result.exit_code == 1
    assert "[pin_wrong]: The PIN is not correct. Attempts left: 5." in result.stderr
    assert portal.state() == "confirmed"


def test_the_attempts_left_are_said_once(app: App, live: Live, portal: Portal) -> None:
    app.activate(operator_qr(live))
    app.on_code = portal.type_code
    result = app("login", portal.qr, "--pin-stdin", "--lang", "en", input=WRONG_PIN + "\n")
    assert result.stderr.count("Attempts left") == 1


def test_a_blocked_device_wipes_its_key(app: App, live: Live, home: Path) -> None:
    app.activate(operator_qr(live))
    waits = {4: 60, 5: 120, 6: 240}  # after three free tries the service makes one wait
    for attempt in range(1, 7):
        live.clock.advance(waits.get(attempt, 0))
        portal = open_portal(live)
        app.on_code = portal.type_code
        result = app("login", portal.qr, "--pin-stdin", "--lang", "en", input=WRONG_PIN + "\n")
        assert result.exit_code == 1
    assert "[device_blocked]" in result.stderr
    assert "activate again" in result.stdout
    assert not (home / "device.json").exists()
    assert not (home / "device-key.pem").exists()
    assert actions(live)[-1] == "device.blocked"


def test_a_pin_tried_too_soon_says_how_long_to_wait(app: App, live: Live) -> None:
    app.activate(operator_qr(live))
    for _ in range(4):
        portal = open_portal(live)
        app.on_code = portal.type_code
        result = app("login", portal.qr, "--pin-stdin", "--lang", "en", input=WRONG_PIN + "\n")
    assert result.exit_code == 1
    assert "[pin_wait]" in result.stderr
    assert "Wait 60 seconds before trying again." in result.stderr
    assert (app.home / "device.json").exists()


def test_a_revoked_device_is_wiped_when_it_scans(
    app: App, live: Live, home: Path, portal: Portal
) -> None:
    app.activate(operator_qr(live))
    revoke_device(live.container, app.device_id())
    result = app("login", portal.qr, "--pin-stdin", input=PIN + "\n")
    assert result.exit_code == 1
    assert "[device_revoked]" in result.stderr
    assert not (home / "device-key.pem").exists()
    assert portal.state() == "pending"


def test_a_login_that_fails_in_the_browser_ends_with_exit_1(
    app: App, live: Live, portal: Portal
) -> None:
    app.activate(operator_qr(live))

    def mistype_three_times(code: str) -> None:
        for _ in range(3):
            portal.type_code(other_code(code))

    app.on_code = mistype_three_times
    result = app("login", portal.qr, "--pin-stdin", "--lang", "en", input=PIN + "\n")
    assert result.exit_code == 1
    assert "[login_ended]" in result.stderr
    assert "failed" in result.stderr
    assert portal.state() == "failed"


def test_a_login_left_too_long_in_the_browser_ends_with_exit_1(
    app: App, live: Live, portal: Portal
) -> None:
    app.activate(operator_qr(live))
    app.on_code = lambda _code: live.clock.advance(live.container.settings.login_ttl_seconds)
    result = app("login", portal.qr, "--pin-stdin", "--lang", "en", input=PIN + "\n")
    assert result.exit_code == 1
    assert "[login_ended]" in result.stderr
    assert "expired" in result.stderr


def test_an_expired_login_qr_is_refused(app: App, live: Live, portal: Portal) -> None:
    app.activate(operator_qr(live))
    live.clock.advance(live.container.settings.login_ttl_seconds + 1)
    result = app("login", portal.qr, "--pin-stdin", "--lang", "en", input=PIN + "\n")
    assert result.exit_code == 1
    assert "[login_expired]" in result.stderr
    assert portal.state() == "expired"


def test_a_login_qr_of_another_service_never_gets_the_pin(app: App, live: Live) -> None:
    app.activate(operator_qr(live))
    before = actions(live)
    qr = f"https://evil.example/app/login/{'A' * 22}#{'B' * 22}"
    result = app("login", qr, "--pin-stdin", input=PIN + "\n")
    assert result.exit_code == 1
    assert "[qr_other_service]" in result.stderr
    assert actions(live) == before


def test_login_without_activation_says_how_to_activate(app: App, portal: Portal) -> None:
    result = app("login", portal.qr, "--pin-stdin", input=PIN + "\n")
    assert result.exit_code == 1
    assert "[not_activated]" in result.stderr
    assert "activate" in result.stderr
    assert portal.state() == "pending"


def test_a_script_sees_the_code_before_the_pin_is_read(
    app: App, live: Live, home: Path, portal: Portal
) -> None:
    app.activate(operator_qr(live))
    # Its own process, with a pipe and no PYTHONUNBUFFERED: the app must flush the code itself.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zorgid",
            "app",
            "--home",
            str(home),
            "login",
            portal.qr,
            "--pin-stdin",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, "LANG": "C"},
    )
    assert process.stdout is not None
    assert process.stdin is not None
    try:
        line = process.stdout.readline()
        while line and not line.startswith("Code: "):
            line = process.stdout.readline()
        assert line.startswith("Code: "), process.stderr.read() if process.stderr else ""
        assert portal.state() == "scanned"
        assert portal.type_code(line.removeprefix("Code: ").strip()).status_code == 200
        process.stdin.write(PIN + "\n")
        process.stdin.close()
        assert process.wait(timeout=30) == 0, process.stderr.read() if process.stderr else ""
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
        if process.stderr is not None:
            process.stderr.close()
    assert portal.state() == "approved"


# --- at a terminal ---------------------------------------------------------------------------


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_app, "stdin_is_terminal", lambda: True)


@pytest.mark.usefixtures("terminal")
def test_at_a_terminal_a_new_pin_is_asked_twice_until_it_is_good(app: App, live: Live) -> None:
    answers = f"12345\n{PIN}\n{WRONG_PIN}\n{PIN}\n{PIN}\n"  # a run; a mismatch; then right
    result = app("activate", operator_qr(live), "--lang", "en", input=answers)
    assert result.exit_code == 0, result.output
    assert "[pin_format]" in result.stderr
    assert "[pin_mismatch]" in result.stderr
    assert PIN not in result.stdout  # hidden input
    portal = open_portal(live)
    app.on_code = portal.type_code
    assert app("login", portal.qr, "--pin-stdin", input=PIN + "\n").exit_code == 0


@pytest.mark.usefixtures("terminal")
def test_at_a_terminal_three_bad_tries_stop_the_activation(app: App, live: Live) -> None:
    result = app("activate", operator_qr(live), input="11111\n22222\n33333\n")
    assert result.exit_code == 1
    assert actions(live)[-1] == "activation.issued"
    assert not (app.home / "device.json").exists()


@pytest.mark.usefixtures("terminal")
def test_at_a_terminal_a_wrong_pin_may_be_tried_again(app: App, live: Live, portal: Portal) -> None:
    app.activate(operator_qr(live))
    app.on_code = portal.type_code
    result = app("login", portal.qr, "--lang", "en", input=f"{WRONG_PIN}\n{PIN}\n")
    assert result.exit_code == 0, result.output
    assert "Attempts left: 5." in result.stderr
    assert "Approved: Olga Operator" in result.stdout
    assert portal.state() == "approved"


@pytest.mark.usefixtures("terminal")
def test_at_a_terminal_the_wrong_pin_that_starts_a_wait_says_so_and_stops(
    app: App, live: Live, portal: Portal
) -> None:
    app.activate(operator_qr(live))
    app.on_code = portal.type_code
    wrong = f"{WRONG_PIN}\n" * 4
    result = app("login", portal.qr, "--lang", "en", input=wrong + f"{PIN}\n")
    assert result.exit_code == 1, result.output
    # The third wrong PIN's answer carries the wait; the app shows it instead of asking again.
    assert "[pin_wrong]: The PIN is not correct. Attempts left: 3. Wait 60 seconds" in (
        result.stderr
    )
    assert "[pin_wait]" not in result.stderr
    assert actions(live).count("pin.wrong") == 3
    assert "pin.refused" not in actions(live)
    assert portal.state() == "confirmed"


@pytest.mark.usefixtures("terminal")
def test_at_a_terminal_an_empty_pin_declines(app: App, live: Live, portal: Portal) -> None:
    app.activate(operator_qr(live))
    app.on_code = portal.type_code
    result = app("login", portal.qr, "--lang", "en", input="\n")
    assert result.exit_code == 0, result.output
    assert "Declined" in result.stdout
    assert portal.state() == "declined"


# --- id --------------------------------------------------------------------------------------


def test_id_json_groups_roles_by_organisation(app: App, live: Live) -> None:
    app.activate(petra_qr(live))
    code, view = app.json("id")
    assert code == 0
    assert view["name"] == "Petra de Vries"
    assert view["organisations"] == [
        {"ura": LINDE[0], "name": LINDE[1], "roles": ["administrator", "gebruiker"]},
        {"ura": ANKER[0], "name": ANKER[1], "roles": ["beheerder"]},
    ]
    assert view["roles"] == ["administrator", "gebruiker", "beheerder", "operator"]
    assert view["status"] == "active"
    assert view["device_id"] == app.device_id()
    assert view["service"] == live.url
    assert view["offline"] is False
    assert (view["code"], view["message"]) == (None, None)


def test_id_without_activation_is_exit_1_with_name_null(app: App) -> None:
    code, view = app.json("id")
    assert code == 1
    assert view["name"] is None
    assert view["status"] == "not_activated"
    result = app("id", "--lang", "en")
    assert result.exit_code == 1
    assert "activate" in result.stderr


def test_id_offline_shows_the_cache_and_is_no_error(app: App, live: Live, home: Path) -> None:
    app.activate(operator_qr(live))
    device = json.loads((home / "device.json").read_text())
    device["service"]["url"] = free_url()  # the service moved away, or the phone has no network
    (home / "device.json").write_text(json.dumps(device))
    code, view = app.json("id")
    assert code == 0
    assert view["offline"] is True
    assert view["name"] == "Olga Operator"
    assert view["code"] == "service_unreachable"
    result = app("id", "--lang", "en")
    assert result.exit_code == 0
    assert "Offline" in result.stdout
    assert "Olga Operator" in result.stdout


def test_id_when_the_service_says_wipe_deletes_the_key(app: App, live: Live, home: Path) -> None:
    app.activate(operator_qr(live))
    revoke_device(live.container, app.device_id())
    code, view = app.json("id")
    assert code == 1
    assert view["status"] == "revoked"
    assert view["name"] == "Olga Operator"
    assert "activeer opnieuw" in view["message"]
    assert not (home / "device-key.pem").exists()
    assert not (home / "device.json").exists()
    assert app.json("id")[1]["status"] == "not_activated"


def test_id_when_the_service_refuses_shows_the_cache_with_exit_1(app: App, live: Live) -> None:
    app.activate(operator_qr(live))
    live.clock.advance(3 * 60)  # the phone's clock is now 3 minutes behind the service's
    code, view = app.json("id")
    assert code == 1
    assert view["name"] == "Olga Operator"
    assert view["code"] == "bad_request"
    assert "meer dan 2 minuten" in view["message"]
    assert (app.home / "device.json").exists()
