"""`zorgid app --home DIR activate|login|id` as formats.md describes them (fake service)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from tests.unit.mobileapp.conftest import qr_png
from zorgid.cli import app as cli_app

if TYPE_CHECKING:
    from pathlib import Path

    from tests.unit.mobileapp.conftest import App
    from tests.unit.mobileapp.fake_service import FakeService


def free_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


# --- activate --------------------------------------------------------------------------------


def test_activating_from_a_png_saves_the_key_and_shows_the_id(
    app: App, service: FakeService, home: Path, tmp_path: Path
) -> None:
    image = tmp_path / "activeer.png"
    image.write_bytes(qr_png(service.new_activation()))
    result = app("activate", image, "--pin-stdin", "--lang", "en", input="13579\n")
    assert result.exit_code == 0, result.output
    assert "Petra de Vries" in result.stdout
    assert "De Linde (URA 90000123): administrator, gebruiker" in result.stdout
    assert "Het Anker (URA 90000456): beheerder" in result.stdout
    assert "administrator, gebruiker, beheerder, operator" in result.stdout
    assert (home / "device-key.pem").stat().st_mode & 0o077 == 0
    device = json.loads((home / "device.json").read_text())
    assert device["service"]["url"] == service.base_url
    assert device["device_id"] in service.devices
    assert service.devices[device["device_id"]].pin == "13579"
    assert service.requests[0].headers["Accept-Language"] == "en"


def test_dutch_is_asked_of_the_service_by_default(app: App, service: FakeService) -> None:
    app.activate(service)
    assert service.requests[0].headers["Accept-Language"] == "nl"


def test_a_weak_pin_is_refused_before_the_service_hears_of_it(
    app: App, service: FakeService
) -> None:
    result = app("activate", service.new_activation(), "--pin-stdin", input="12345\n")
    assert result.exit_code == 1
    assert "[pin_format]" in result.stderr
    assert service.requests == []


def test_no_pin_on_standard_input_is_a_usage_error(app: App, service: FakeService) -> None:
    result = app("activate", service.new_activation(), "--pin-stdin", input="")
    assert result.exit_code == 2
    assert "[pin_missing]" in result.stderr


def test_without_a_terminal_or_pin_stdin_the_pin_cannot_be_asked(
    app: App, service: FakeService
) -> None:
    result = app("activate", service.new_activation(), input="13579\n13579\n")
    assert result.exit_code == 2
    assert "--pin-stdin" in result.stderr
    assert service.requests == []


def test_a_second_activation_in_the_same_home_is_refused(app: App, service: FakeService) -> None:
    app.activate(service)
    result = app("activate", service.new_activation(), "--pin-stdin", input="13579\n")
    assert result.exit_code == 1
    assert "[already_activated]" in result.stderr
    assert len(service.devices) == 1


def test_a_revoked_device_may_be_activated_again(
    app: App, service: FakeService, home: Path
) -> None:
    app.activate(service)
    (old,) = service.devices
    service.devices[old].status = "revoked"
    app.activate(service, pin="24680")
    device_id = json.loads((home / "device.json").read_text())["device_id"]
    assert device_id != old
    assert service.devices[device_id].pin == "24680"


def test_a_used_activation_code_shows_the_services_message(app: App, service: FakeService) -> None:
    qr = service.new_activation()
    assert app("activate", qr, "--pin-stdin", input="13579\n").exit_code == 0
    other = type(app)(app.home.parent / "other-home")
    result = other("activate", qr, "--pin-stdin", input="13579\n")
    assert result.exit_code == 1
    assert "[activation_unknown]: Onbekende activeringscode." in result.stderr


def test_a_login_qr_given_to_activate_is_the_wrong_kind(app: App, service: FakeService) -> None:
    _, qr = service.new_login()
    result = app("activate", qr, "--pin-stdin", input="13579\n")
    assert result.exit_code == 1
    assert "[qr_wrong_kind]" in result.stderr


@pytest.mark.parametrize("source", ["not a qr", "https://evil.example@zorgid/app/login/x#y"])
def test_a_bad_source_is_refused_without_a_traceback(app: App, source: str) -> None:
    result = app("activate", source, "--pin-stdin", input="13579\n")
    assert result.exit_code == 1
    assert "[qr_invalid]" in result.stderr


def test_a_text_file_as_source_is_an_unreadable_image(app: App, tmp_path: Path) -> None:
    path = tmp_path / "qr.txt"
    path.write_text("hello")
    result = app("activate", path, "--pin-stdin", input="13579\n")
    assert result.exit_code == 1
    assert "[image_unreadable]" in result.stderr


def test_an_unreachable_service_is_exit_2_naming_the_url(app: App) -> None:
    url = free_url()
    qr = f"{url}/app/activeer/{'A' * 22}#{'B' * 22}"
    result = app("activate", qr, "--pin-stdin", "--lang", "en", input="13579\n")
    assert result.exit_code == 2
    assert "[service_unreachable]" in result.stderr
    assert url in result.stderr
    assert not (app.home / "device.json").exists()


def test_a_server_error_is_exit_2(app: App, service: FakeService) -> None:
    service.override = (500, b"<h1>oops</h1>", "text/html")
    result = app("activate", service.new_activation(), "--pin-stdin", input="13579\n")
    assert result.exit_code == 2
    assert "[service_response]" in result.stderr


# --- login -----------------------------------------------------------------------------------


def test_a_login_shows_who_asks_and_the_code_then_approves_with_the_pin(
    app: App, service: FakeService
) -> None:
    app.activate(service)
    login_id, qr = service.new_login(scanned_waits=1)
    result = app("login", qr, "--pin-stdin", "--lang", "en", input="13579\n")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "Code: 123456" in lines
    assert "ZORG-ID Portaal (portaal.zorgid.example)" in result.stdout
    assert "203.0.113.7" in result.stdout
    assert "\x1b" not in result.stdout  # the browser's User-Agent is not trusted with a terminal
    assert "Approved: Petra de Vries is logged in" in result.stdout
    assert service.logins[login_id].state == "approved"
    assert service.paths().count(f"/api/app/v1/logins/{login_id}/wait") == 2


def test_the_code_line_is_the_same_in_dutch(app: App, service: FakeService) -> None:
    app.activate(service)
    _, qr = service.new_login()
    result = app("login", qr, "--pin-stdin", input="13579\n")
    assert result.exit_code == 0, result.output
    assert "Code: 123456" in result.stdout.splitlines()


def test_deny_declines_without_a_pin(app: App, service: FakeService) -> None:
    app.activate(service)
    login_id, qr = service.new_login()
    result = app("login", qr, "--deny")
    assert result.exit_code == 0, result.output
    assert service.logins[login_id].state == "declined"
    assert not any(path.endswith("/wait") for path in service.paths())


def test_deny_still_declines_when_the_browser_confirmed_first(
    app: App, service: FakeService
) -> None:
    app.activate(service)
    login_id, qr = service.new_login(scanned_waits=None)
    original = service.handle

    def scan_then_confirm(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        answer = original(path, body)
        if path.endswith("/scan"):
            service.confirm(login_id)  # the browser was quicker than the decline
        return answer

    service.handle = scan_then_confirm  # type: ignore[method-assign]
    result = app("login", qr, "--deny")
    assert result.exit_code == 0, result.output
    assert service.logins[login_id].state == "declined"


def test_a_wrong_pin_from_stdin_says_how_many_tries_are_left(
    app: App, service: FakeService
) -> None:
    app.activate(service)
    _, qr = service.new_login()
    result = app("login", qr, "--pin-stdin", "--lang", "en", input="24680\n")
    assert result.exit_code == 1
    assert "[pin_wrong]: Onjuiste pincode. Attempts left: 2." in result.stderr


def test_a_blocked_device_wipes_its_key(app: App, service: FakeService, home: Path) -> None:
    app.activate(service)
    service.max_pin_failures = 1
    _, qr = service.new_login()
    result = app("login", qr, "--pin-stdin", "--lang", "en", input="24680\n")
    assert result.exit_code == 1
    assert "[device_blocked]" in result.stderr
    assert "activate again" in result.stdout
    assert not (home / "device.json").exists()
    assert not (home / "device-key.pem").exists()


def test_a_revoked_device_is_wiped_when_it_scans(
    app: App, service: FakeService, home: Path
) -> None:
    app.activate(service)
    (device_id,) = service.devices
    service.devices[device_id].status = "revoked"
    _, qr = service.new_login()
    result = app("login", qr, "--pin-stdin", input="13579\n")
    assert result.exit_code == 1
    assert "[device_revoked]" in result.stderr
    assert not (home / "device-key.pem").exists()


def test_a_login_that_fails_in_the_browser_ends_with_exit_1(app: App, service: FakeService) -> None:
    app.activate(service)
    login_id, qr = service.new_login(scanned_waits=None)
    original = service.handle

    def scan_then_fail(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        answer = original(path, body)
        if path.endswith("/scan"):
            # The browser typed the code wrong three times while the app waited.
            service.set_login_state(login_id, "failed")
        return answer

    service.handle = scan_then_fail  # type: ignore[method-assign]
    result = app("login", qr, "--pin-stdin", "--lang", "en", input="13579\n")
    assert result.exit_code == 1
    assert "[login_ended]" in result.stderr
    assert "failed" in result.stderr


def test_a_login_qr_of_another_service_never_gets_the_pin(app: App, service: FakeService) -> None:
    app.activate(service)
    before = len(service.requests)
    qr = f"https://evil.example/app/login/{'A' * 22}#{'B' * 22}"
    result = app("login", qr, "--pin-stdin", input="13579\n")
    assert result.exit_code == 1
    assert "[qr_other_service]" in result.stderr
    assert len(service.requests) == before


def test_login_without_activation_says_how_to_activate(app: App, service: FakeService) -> None:
    _, qr = service.new_login()
    result = app("login", qr, "--pin-stdin", input="13579\n")
    assert result.exit_code == 1
    assert "[not_activated]" in result.stderr
    assert "activate" in result.stderr


def test_a_script_sees_the_code_before_the_pin_is_read(
    app: App, service: FakeService, home: Path
) -> None:
    app.activate(service)
    login_id, qr = service.new_login(scanned_waits=None)
    process = subprocess.Popen(
        [sys.executable, "-m", "zorgid", "app", "--home", str(home), "login", qr, "--pin-stdin"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "LANG": "C"},
    )
    assert process.stdout is not None
    assert process.stdin is not None
    try:
        line = process.stdout.readline()
        while line and not line.startswith("Code: "):
            line = process.stdout.readline()
        assert line == "Code: 123456\n"
        assert service.logins[login_id].state == "scanned"
        service.confirm(login_id)
        process.stdin.write("13579\n")
        process.stdin.close()
        assert process.wait(timeout=30) == 0, process.stderr.read() if process.stderr else ""
    finally:
        process.kill()
    assert service.logins[login_id].state == "approved"


# --- at a terminal ---------------------------------------------------------------------------


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_app, "stdin_is_terminal", lambda: True)


@pytest.mark.usefixtures("terminal")
def test_at_a_terminal_a_new_pin_is_asked_twice_until_it_is_good(
    app: App, service: FakeService
) -> None:
    answers = "12345\n13579\n24680\n13579\n13579\n"  # a run; a mismatch; then right
    result = app("activate", service.new_activation(), "--lang", "en", input=answers)
    assert result.exit_code == 0, result.output
    assert "[pin_format]" in result.stderr
    assert "[pin_mismatch]" in result.stderr
    (device,) = service.devices.values()
    assert device.pin == "13579"
    assert "13579" not in result.stdout  # hidden input


@pytest.mark.usefixtures("terminal")
def test_at_a_terminal_three_bad_tries_stop_the_activation(app: App, service: FakeService) -> None:
    result = app("activate", service.new_activation(), input="11111\n22222\n33333\n")
    assert result.exit_code == 1
    assert service.requests == []


@pytest.mark.usefixtures("terminal")
def test_at_a_terminal_a_wrong_pin_may_be_tried_again(app: App, service: FakeService) -> None:
    app.activate(service)
    login_id, qr = service.new_login()
    result = app("login", qr, "--lang", "en", input="24680\n13579\n")
    assert result.exit_code == 0, result.output
    assert "Attempts left: 2." in result.stderr
    assert service.logins[login_id].state == "approved"


@pytest.mark.usefixtures("terminal")
def test_at_a_terminal_an_empty_pin_declines(app: App, service: FakeService) -> None:
    app.activate(service)
    login_id, qr = service.new_login()
    result = app("login", qr, "--lang", "en", input="\n")
    assert result.exit_code == 0, result.output
    assert "Declined" in result.stdout
    assert service.logins[login_id].state == "declined"


# --- id --------------------------------------------------------------------------------------


def test_id_json_groups_roles_by_organisation(app: App, service: FakeService) -> None:
    app.activate(service)
    code, view = app.json("id")
    assert code == 0
    assert view["name"] == "Petra de Vries"
    assert view["organisations"] == [
        {"ura": "90000123", "name": "De Linde", "roles": ["administrator", "gebruiker"]},
        {"ura": "90000456", "name": "Het Anker", "roles": ["beheerder"]},
    ]
    assert view["roles"] == ["administrator", "gebruiker", "beheerder", "operator"]
    assert view["status"] == "active"
    assert view["device_id"] in service.devices
    assert view["service"] == service.base_url
    assert view["offline"] is False
    assert service.paths()[-1].endswith("/status")


def test_id_without_activation_is_exit_1_with_name_null(app: App) -> None:
    code, view = app.json("id")
    assert code == 1
    assert view["name"] is None
    assert view["status"] == "not_activated"
    result = app("id", "--lang", "en")
    assert result.exit_code == 1
    assert "activate" in result.stderr


def test_id_offline_shows_the_cache_and_is_no_error(
    app: App, service: FakeService, home: Path
) -> None:
    app.activate(service)
    device = json.loads((home / "device.json").read_text())
    device["service"]["url"] = free_url()
    (home / "device.json").write_text(json.dumps(device))
    code, view = app.json("id")
    assert code == 0
    assert view["offline"] is True
    assert view["name"] == "Petra de Vries"
    assert view["code"] == "service_unreachable"
    result = app("id", "--lang", "en")
    assert result.exit_code == 0
    assert "Offline" in result.stdout
    assert "Petra de Vries" in result.stdout


def test_id_when_the_service_says_wipe_deletes_the_key(
    app: App, service: FakeService, home: Path
) -> None:
    app.activate(service)
    (device_id,) = service.devices
    service.devices[device_id].status = "blocked"
    code, view = app.json("id")
    assert code == 1
    assert view["status"] == "blocked"
    assert view["name"] == "Petra de Vries"
    assert not (home / "device-key.pem").exists()
    assert not (home / "device.json").exists()
    assert app.json("id")[1]["status"] == "not_activated"


def test_id_when_the_service_refuses_shows_the_cache_with_exit_1(
    app: App, service: FakeService
) -> None:
    app.activate(service)
    service.override = (
        400,
        b'{"error": {"code": "signature_invalid", "message": "Klok loopt achter."}}',
        "application/json",
    )
    code, view = app.json("id")
    assert code == 1
    assert view["name"] == "Petra de Vries"
    assert view["code"] == "signature_invalid"
    assert "Klok loopt achter." in view["message"]
