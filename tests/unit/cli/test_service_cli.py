"""`zorgid init`, `operator add|activation` and `serve` as an operator uses them."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import zxingcpp
from click.testing import CliRunner
from PIL import Image

from tests.support.portal import served
from zorgid.bootstrap import build
from zorgid.cli.main import cli
from zorgid.settings import Settings

if TYPE_CHECKING:
    from pathlib import Path


def run(tmp_path: Path, *args: str, **env: str) -> tuple[int, str]:
    """Run a command with the data directory in ``tmp_path``, English output."""
    result = CliRunner().invoke(
        cli, list(args), env={"ZORGID_DATA_DIR": str(tmp_path / "data"), "LANG": "C", **env}
    )
    return result.exit_code, result.output


def test_init_then_operator_add_prints_a_qr_that_decodes_to_its_text(tmp_path: Path) -> None:
    code, output = run(tmp_path, "init", "--lang", "en")
    assert code == 0, output
    assert (tmp_path / "data" / "keys" / "pin.key").stat().st_mode & 0o777 == 0o600
    png = tmp_path / "olga.png"
    code, output = run(
        tmp_path,
        "operator",
        "add",
        "--name",
        "Olga de Operator",
        "--email",
        "olga@zorgid.test",
        "--qr-png",
        str(png),
        "--lang",
        "en",
    )
    assert code == 0, output
    assert "One-time activation QR code for Olga de Operator" in output
    text = next(line for line in output.splitlines() if line.startswith("The text in the QR"))
    qr_text = text.split(": ", 1)[1]
    assert "/app/activeer/" in qr_text
    decoded = zxingcpp.read_barcodes(Image.open(png))
    assert [d.text for d in decoded] == [qr_text]


def _qr_text(output: str) -> str:
    line = next(line for line in output.splitlines() if line.startswith("The text in the QR"))
    return line.split(": ", 1)[1]


def test_the_qr_points_at_the_public_url_and_a_running_service_there_means_no_warning(
    tmp_path: Path,
) -> None:
    assert run(tmp_path, "init")[0] == 0
    service = build(Settings(data_dir=tmp_path / "data"))
    try:
        with served(service) as url:
            code, output = run(
                tmp_path,
                "operator",
                "add",
                "--name",
                "Olga",
                "--email",
                "olga@zorgid.test",
                "--lang",
                "en",
                ZORGID_PUBLIC_URL=url,
            )
    finally:
        service.close()
    assert code == 0, output
    assert _qr_text(output).startswith(f"{url}/app/activeer/")
    assert "Warning" not in output


def test_the_qr_points_at_the_public_url_and_nothing_there_is_warned_of(tmp_path: Path) -> None:
    assert run(tmp_path, "init")[0] == 0
    # A port taken but not listening: connecting to it is refused at once.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        code, output = run(
            tmp_path,
            "operator",
            "add",
            "--name",
            "Olga",
            "--email",
            "olga@zorgid.test",
            "--lang",
            "en",
            ZORGID_PUBLIC_URL=url,
        )
        assert code == 0, output
        assert _qr_text(output).startswith(f"{url}/app/activeer/")
        assert f"Warning: no ZORG-ID service answers at {url} (no connection" in output
        # The option overrides the environment, and the warning is in Dutch too.
        code, output = run(
            tmp_path,
            "operator",
            "activation",
            "--email",
            "olga@zorgid.test",
            "--public-url",
            url,
            "--lang",
            "nl",
        )
        assert code == 0, output
        assert f"{url}/app/activeer/" in output
        assert f"Waarschuwing: er antwoordt geen ZORG-ID-dienst op {url}" in output


def test_a_public_url_option_that_cannot_be_used_is_refused(tmp_path: Path) -> None:
    assert run(tmp_path, "init")[0] == 0
    args = ("operator", "add", "--name", "O", "--email", "o@zorgid.test", "--lang", "en")
    code, output = run(tmp_path, *args, "--public-url", "ftp://x.example/")
    assert code == 2
    assert "[settings_invalid]" in output


def test_the_same_email_twice_is_refused_clearly(tmp_path: Path) -> None:
    run(tmp_path, "init")
    args = ("operator", "add", "--name", "Olga", "--email", "olga@zorgid.test", "--lang", "en")
    assert run(tmp_path, *args)[0] == 0
    code, output = run(tmp_path, *args)
    assert code == 1
    assert "[person_exists]" in output
    assert "Traceback" not in output


def test_a_new_activation_qr_for_a_known_person_and_a_clear_no_for_an_unknown(
    tmp_path: Path,
) -> None:
    run(tmp_path, "init")
    run(tmp_path, "operator", "add", "--name", "Olga", "--email", "olga@zorgid.test")
    code, output = run(tmp_path, "operator", "activation", "--email", "OLGA@zorgid.test")
    assert code == 0, output
    code, output = run(tmp_path, "operator", "activation", "--email", "nobody@zorgid.test")
    assert code == 1
    assert "[person_unknown]" in output


def test_commands_on_a_database_that_is_not_set_up_say_to_run_init(tmp_path: Path) -> None:
    code, output = run(tmp_path, "operator", "add", "--name", "O", "--email", "o@zorgid.test")
    assert code == 2
    assert "[database_not_migrated]" in output or "[key_missing]" in output
    code, output = run(tmp_path, "serve", "--lang", "en")
    assert code == 2
    assert "zorgid init" in output


def test_a_setting_that_cannot_be_used_stops_with_its_name(tmp_path: Path) -> None:
    code, output = run(tmp_path, "init", "--lang", "en", ZORGID_PIN_MAX_FAILURES="many")
    assert code == 2
    assert "ZORGID_PIN_MAX_FAILURES" in output
    code, output = run(tmp_path, "init", "--lang", "en", ZORGID_PUBLIC_URL="https://x.example/")
    assert code == 2
    assert "[settings_invalid]" in output


def test_an_unreachable_database_is_an_exit_2_with_the_url(tmp_path: Path) -> None:
    code, output = run(
        tmp_path,
        "init",
        "--lang",
        "en",
        ZORGID_DATABASE_URL="postgresql://nobody@127.0.0.1:1/zorgid",
    )
    assert code == 2
    assert "[database_unavailable]" in output
    assert "127.0.0.1:1" in output


def test_revoke_switches_off_the_apps_of_a_person(tmp_path: Path) -> None:
    run(tmp_path, "init")
    run(tmp_path, "operator", "add", "--name", "Olga", "--email", "olga@zorgid.test")
    code, output = run(
        tmp_path, "operator", "revoke", "--email", "olga@zorgid.test", "--lang", "en"
    )
    assert code == 0, output
    assert "Switched off: 0 app(s) of Olga" in output
    code, output = run(tmp_path, "operator", "revoke", "--email", "x@zorgid.test", "--lang", "en")
    assert code == 1
    assert "[person_unknown]" in output


def test_serve_refuses_a_taken_port_or_unreadable_trust_files_before_starting(
    tmp_path: Path,
) -> None:
    assert run(tmp_path, "init", "--lang", "en")[0] == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        code, output = run(
            tmp_path, "serve", "--lang", "en", ZORGID_INBOUND="true", ZORGID_INBOUND_PORT=port
        )
        assert code == 2
        assert "[address_in_use]" in output
        assert f"127.0.0.1:{port}" in output
        assert "ZORGID_INBOUND_PORT" in output
        code, output = run(tmp_path, "serve", "--lang", "en", "--port", port)
        assert code == 2
        assert "[address_in_use]" in output
    code, output = run(
        tmp_path, "serve", "--lang", "en", ZORGID_TRUST_ANCHORS=str(tmp_path / "missing.pem")
    )
    assert code == 2
    assert "[trust_not_configured]" in output
    assert "Traceback" not in output


def test_serve_refuses_a_checkpoint_directory_it_cannot_write_before_starting(
    tmp_path: Path,
) -> None:
    assert run(tmp_path, "init")[0] == 0
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")

    code, output = run(
        tmp_path, "serve", "--lang", "en", ZORGID_AUDIT_CHECKPOINT_DIR=str(blocked / "ckpt")
    )

    assert code == 2
    assert "[audit_checkpoint_not_written]" in output
    assert "Traceback" not in output


def test_init_makes_the_audit_keys_and_serve_refuses_to_start_without_them(
    tmp_path: Path,
) -> None:
    assert run(tmp_path, "init")[0] == 0
    keys = tmp_path / "data" / "keys"
    for name in ("audit.key", "checkpoint.key"):
        assert (keys / name).stat().st_mode & 0o777 == 0o600
        assert len((keys / name).read_bytes()) == 32
    assert (keys / "checkpoint.pub").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    (keys / "audit.key").unlink()

    code, output = run(tmp_path, "serve", "--lang", "en")

    assert code == 2
    assert "[key_missing]" in output
    assert "audit.key" in output
    assert run(tmp_path, "init")[0] == 0  # an existing installation gets the new keys
    assert (keys / "audit.key").exists()
