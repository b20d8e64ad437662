"""``zorgid demo``: the whole service on one machine; ``zorgid demo validatietool``: a tour.

``zorgid demo`` makes a test PKI, a database, keys and a demo operator with a one-time activation
QR, prints what to do next, and runs the service. The tour walks through the validation tool:
each step prints what it is for in plain words, shows the exact command a technical
administrator would type, and runs it, so that a newcomer learns the real commands.
"""

from __future__ import annotations

import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import click

from zorgid.cli.operator import write_qr_png
from zorgid.cli.output import Out, lang_option, out_for, stdin_is_terminal
from zorgid.cli.service import open_container, run_server
from zorgid.core.clock import SystemClock
from zorgid.core.i18n import N_
from zorgid.core.tokens import new_token
from zorgid.errors import ZorgidError
from zorgid.pki.testpki import TestPki, write_test_pki
from zorgid.settings import Settings


def _run(out: Out, args: list[str], *, pause: bool) -> int:
    shown = "zorgid " + " ".join(shlex.quote(a) for a in args)
    click.secho(f"\n  $ {shown}\n", bold=True)
    result = subprocess.run([sys.executable, "-m", "zorgid", *args], check=False)  # noqa: S603 - our own CLI
    if pause and stdin_is_terminal():
        click.prompt(out._(N_("Press Enter to continue")), default="", show_default=False)
    return result.returncode


MARKER = ".zorgid-demo"


class DemoDirectoryError(ZorgidError):
    """The demo would replace a directory it did not make."""

    code = "directory_not_empty"
    message = N_(
        "The folder {path} exists and was not made by the demo, so the demo leaves it alone. "
        "Choose another folder with --dir."
    )
    exit_code = 2


def _fresh_demo_directory(directory: Path) -> None:
    """Empty the demo's own folder from an earlier run; never touch a folder it did not make."""
    if directory.exists():
        if any(directory.iterdir()) and not (directory / MARKER).exists():
            raise DemoDirectoryError(path=str(directory))
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / MARKER).write_text("made by `zorgid demo`; replaced at its next run\n")


def _step(out: Out, number: int, title: str, text: str) -> None:
    click.secho(
        "\n" + out._(N_("Step {number}: {title}"), number=number, title=out._(title)),
        fg="cyan",
        bold=True,
    )
    click.echo(out._(text))


@click.command(name="validatietool")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("zorgid-demo-validatietool"),
    show_default=True,
    help="Map voor de demobestanden / folder for the demo's files (replaced).",
)
@click.option("--no-pause", is_flag=True, help="Niet wachten tussen stappen / do not pause.")
@lang_option
def validatietool_tour(directory: Path, no_pause: bool, lang: str | None) -> None:  # noqa: FBT001
    """Rondleiding door de validatietool / a guided tour of the validation tool."""
    out = out_for(lang)
    pause = not no_pause
    lang_args = ["--lang", out.lang]
    click.secho(out._(N_("ZORG-ID validation tool: a guided tour")), bold=True)
    click.echo(
        out._(
            N_(
                "A care organisation proves who it is by signing an 'organisation document' with "
                "the private key of its UZI server certificate. This tour does that with test "
                "certificates, step by step, in the folder {dir}. Nothing here touches real "
                "certificates."
            ),
            dir=directory,
        )
    )
    with out.reporting():
        _fresh_demo_directory(directory)
    pki = directory / "test-pki"
    doc = directory / "organisatiedocument.xml"
    signed = directory / "organisatiedocument-ondertekend.xml"
    org = pki / "organisations" / "90000123"
    challenge = new_token(32)

    _step(
        out,
        1,
        N_("a test PKI"),
        N_(
            "Real UZI server certificates come from the UZI-register (CIBG). For trying things out "
            "we make our own test hierarchy that looks like the UZI-register's test environment: a "
            "test root, the server CA, and a certificate for the demo practice with URA 90000123."
        ),
    )
    _run(out, ["pki", "init-test", str(pki), *lang_args], pause=pause)

    _step(
        out,
        2,
        N_("look at the certificate"),
        N_(
            "'inspect' shows what a certificate says: whose it is, who issued it, and the UZI data "
            "(card type S = server certificate, the URA of the organisation)."
        ),
    )
    _run(out, ["validatietool", "inspect", str(org / "server-cert.pem"), *lang_args], pause=pause)

    _step(
        out,
        3,
        N_("fill in the organisation document"),
        N_(
            "The service e-mails a prefilled document with a request number and a one-time "
            "challenge. Here we fill it in ourselves with 'fill'. Missing fields are asked for at "
            "a terminal; with --set you give them on the command line."
        ),
    )
    values = {
        "Aanvraag/Aanvraagnummer": "ZID-2026-000123",
        "Aanvraag/Uitdaging": challenge,
        "Aanvraag/Omgeving": "acceptatie",
        "Organisatie/URA": "90000123",
        "Organisatie/Naam": "Huisartsenpraktijk De Linde",
        "TechnischBeheerder/Naam": "Jan Jansen",
        "TechnischBeheerder/Email": "it@delinde.example",
        "PortaalAdministrator/Naam": "Petra de Vries",
        "PortaalAdministrator/Email": "petra@delinde.example",
        "Applicaties/Applicatie": "example-his",
    }
    sets = [arg for path, value in values.items() for arg in ("--set", f"{path}={value}")]
    _run(
        out, ["validatietool", "fill", "-o", str(doc), "--no-input", *sets, *lang_args], pause=pause
    )

    _step(
        out,
        4,
        N_("sign it with the server certificate"),
        N_(
            "'sign' puts the signing time in the document and signs it with the private key. The "
            "key may be in a PKCS#12 file (.p12/.pfx, as exported from Windows), in PEM files, or "
            "on a smartcard or HSM (PKCS#11). The tool checks its own result before saving it."
        ),
    )
    _run(
        out,
        [
            "validatietool",
            "sign",
            str(doc),
            "-o",
            str(signed),
            "--pkcs12",
            str(org / "server.p12"),
            "--password-file",
            str(org / "server.p12.password"),
            *lang_args,
        ],
        pause=pause,
    )

    _step(
        out,
        5,
        N_("verify it, as the service does"),
        N_(
            "'verify' checks the signature, that the certificate comes from the trusted "
            "UZI-register CA, is valid and not revoked, that it is a server certificate, and that "
            "its URA is the URA in the document."
        ),
    )
    _run(
        out,
        [
            "validatietool",
            "verify",
            str(signed),
            "--trust-anchor",
            str(pki / "ca" / "server-ca.pem"),
            "--crl",
            str(pki / "crl" / "server-ca.crl"),
            "--expect-ura",
            "90000123",
            "--expect-challenge",
            challenge,
            *lang_args,
        ],
        pause=pause,
    )

    _step(
        out,
        6,
        N_("what if someone changes it?"),
        N_(
            "We change the organisation's name in the signed file, as an attacker might. The "
            "signature no longer matches, and verify says so (exit code 1)."
        ),
    )
    tampered = directory / "organisatiedocument-gewijzigd.xml"
    tampered.write_bytes(signed.read_bytes().replace(b"De Linde", b"De Eik"))
    _run(
        out,
        [
            "validatietool",
            "verify",
            str(tampered),
            "--trust-anchor",
            str(pki / "ca" / "server-ca.pem"),
            "--crl",
            str(pki / "crl" / "server-ca.crl"),
            *lang_args,
        ],
        pause=False,
    )

    click.secho("\n" + out._(N_("Done.")), bold=True)
    click.echo(
        out._(
            N_(
                "With a real certificate you do the same: fill in the document from the request "
                "e-mail, sign it with your organisation's UZI server certificate, and send the "
                "signed file as an attachment in your reply. See docs/validatietool.md, and "
                "docs/windows-certificate-store.md if your key is in the Windows certificate "
                "store. Add --json to any command for output a program can read."
            )
        )
    )
    # Through `make demo` the command is not on PATH; say how to reach it.
    own = shutil.which("zorgid") or str(Path(sys.executable).parent / "zorgid")
    click.echo(
        out._(N_("Run the commands yourself as: {command} validatietool --help"), command=own)
    )


def _zorgid_command() -> str:
    """How the person can run zorgid from here (the venv's script, relative when possible)."""
    script = Path(sys.argv[0])
    if script.name == "zorgid" and script.exists():
        try:
            return str(script.resolve().relative_to(Path.cwd()))
        except ValueError:
            return str(script)
    return "zorgid"


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


class PortTakenError(ZorgidError):
    """Another program listens on the demo's port."""

    code = "port_taken"
    message = N_(
        "Port {port} is already in use (is another demo still running?). Stop that program, or "
        "choose another port: make demo PORT=8001, or zorgid demo --port 8001."
    )
    exit_code = 2


@click.group(invoke_without_command=True)
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("zorgid-demo"),
    show_default=True,
    help="Map voor de demobestanden / folder for the demo's files (replaced).",
)
@click.option("--port", type=int, default=8000, show_default=True, help="Poort / port.")
@lang_option
@click.pass_context
def demo(ctx: click.Context, directory: Path, port: int, lang: str | None) -> None:
    """De hele dienst op deze computer / the whole service on this machine."""
    if ctx.invoked_subcommand is not None:
        return
    out = out_for(lang)
    host = "127.0.0.1"
    url = f"http://{host}:{port}"
    with out.reporting():
        if not _port_free(host, port):
            raise PortTakenError(port=port)
        _fresh_demo_directory(directory)
        write_test_pki(directory / "test-pki", TestPki(now=SystemClock().now()))
        settings = Settings(
            data_dir=directory, public_url=url, host=host, port=port, log_level="warning"
        )
        container = open_container(settings, create_keys=True, migrate=True)
        with container.unit_of_work() as session:
            _, issued = container.identity(session).add_operator(
                name="Olga de Operator", email="operator@zorgid.example", actor="demo", source="cli"
            )
        png = directory / "activatie-operator.png"
        write_qr_png(issued.qr_text, png)
    zorgid = _zorgid_command()
    phone = directory / "telefoon"
    click.secho(out._(N_("ZORG-ID demo: the service runs on this computer")), bold=True)
    click.echo(
        out._(
            N_(
                "Made in {dir}: a database, the service's keys, a test PKI and a demo operator, "
                "Olga de Operator, with a one-time activation QR code ({png}). The app on your "
                "phone is played by '{zorgid} app', with its files in {phone}."
            ),
            dir=directory,
            png=png,
            zorgid=zorgid,
            phone=phone,
        )
    )
    steps = [
        N_(
            "Open a second terminal in this folder and activate the app with the QR code:\n"
            "     {zorgid} app --home {phone} activate {png}\n"
            "   Choose a PIN of five digits (you type it twice). The app then shows your name."
        ),
        N_("Open {url} in your browser. It shows a QR code to log in."),
        N_(
            "Scan it with the app: save the QR code as an image (right-click it, or take a "
            "screenshot), or open 'Cannot scan?' under it and copy the text. Then:\n"
            "     {zorgid} app --home {phone} login <image file or text>\n"
            "   The app shows who is asking and a code of six digits."
        ),
        N_("Type that code in the browser, then enter your PIN in the app."),
        N_(
            "The browser shows your name and your role, Operator. Under 'ID' the app shows the "
            "same: {zorgid} app --home {phone} id"
        ),
    ]
    for number, step in enumerate(steps, 1):
        click.echo(f"\n{number}. " + out._(step, zorgid=zorgid, phone=phone, png=png, url=url))
    click.echo(
        "\n"
        + out._(
            N_(
                "The service keeps running here; stop it with Ctrl+C. Running the demo again "
                "starts afresh. The validation tool has a tour of its own: {zorgid} demo "
                "validatietool"
            ),
            zorgid=zorgid,
        )
        + "\n"
    )
    run_server(container, out)


demo.add_command(validatietool_tour)
