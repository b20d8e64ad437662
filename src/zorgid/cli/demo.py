"""``zorgid demo``: the whole service on one machine; ``zorgid demo validatietool``: a tour.

``zorgid demo`` makes a test PKI the service trusts, a database, keys, the accepted applications,
a demo operator with a one-time activation QR and a mailbox that catches the service's e-mail
(shown at /demo/post), prints what to do next, through the whole registration of a care
organisation (flow 1b), and runs the service. The tour walks through the validation tool:
each step prints what it is for in plain words, shows the exact command a technical
administrator would type, and runs it, so that a newcomer learns the real commands.
"""

from __future__ import annotations

import shlex
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click
from cryptography import x509

from zorgid.cli.operator import write_qr_png
from zorgid.cli.output import Out, lang_option, out_for, stdin_is_terminal
from zorgid.cli.service import open_container, run_server
from zorgid.core.clock import SystemClock
from zorgid.core.i18n import N_
from zorgid.core.tokens import new_token
from zorgid.errors import ZorgidError
from zorgid.pki.testpki import DEMO_ORGANISATIONS, TestPki, write_test_pki
from zorgid.pki.uzi import read_certificate
from zorgid.settings import Settings

if TYPE_CHECKING:
    from fastapi import APIRouter

    from zorgid.bootstrap import Container
    from zorgid.mail.catcher import MailCatcher


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


#: The accepted applications the demo puts on the list (id, name, vendor, supports).
DEMO_APPLICATIONS = (
    (
        "example-his",
        "Voorbeeld HIS",
        "Voorbeeld Software B.V.",
        "Inloggen met ZORG-ID (OpenID Connect)",
    ),
    (
        "example-apotheek",
        "Voorbeeld Apotheeksysteem",
        "Voorbeeld Software B.V.",
        "Inloggen met ZORG-ID (OpenID Connect)",
    ),
)
TECHNICAL = ("Jan Jansen", "it@praktijk.example")
ADMINISTRATOR = ("Petra de Vries", "petra@praktijk.example")


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class DemoFiles:
    """Where the demo put things, and where the newcomer puts theirs."""

    directory: Path

    @property
    def pki(self) -> Path:
        """The test PKI."""
        return self.directory / "test-pki"

    @property
    def organisation(self) -> Path:
        """The demo practice's server certificate, key and PKCS#12."""
        return self.pki / "organisations" / DEMO_ORGANISATIONS[0].ura

    @property
    def pkcs12(self) -> Path:
        """The demo practice's certificate and key as PKCS#12."""
        return self.organisation / "server.p12"

    @property
    def password_file(self) -> Path:
        """The PKCS#12 password."""
        return self.organisation / "server.p12.password"

    @property
    def operator_qr(self) -> Path:
        """The operator's one-time activation QR code."""
        return self.directory / "activatie-operator.png"

    @property
    def document(self) -> Path:
        """Where the newcomer saves the organisation document from the request e-mail."""
        return self.directory / "organisatiedocument.xml"

    @property
    def signed(self) -> Path:
        """Where the validation tool writes the signed document."""
        return self.directory / "organisatiedocument-ondertekend.xml"

    @property
    def admin_qr(self) -> Path:
        """Where the newcomer saves the administrator's activation QR from the approval e-mail."""
        return self.directory / "activatie-qr.png"


@dataclass
class DemoService:
    """The demo, set up and ready to serve."""

    files: DemoFiles
    container: Container
    catcher: MailCatcher
    ura: str
    organisation: str

    @property
    def url(self) -> str:
        """Where the service is reached."""
        return self.container.settings.public_url

    @property
    def inbound(self) -> str:
        """The SMTP address where the service receives replies."""
        settings = self.container.settings
        return f"{settings.inbound_host}:{settings.inbound_port}"

    def routers(self) -> list[APIRouter]:
        """What the demo adds to the web app: the mailbox at /demo/post."""
        from zorgid.web.catcher import catcher_router  # noqa: PLC0415 - only the server needs it

        return [catcher_router(self.catcher)]

    def stop(self) -> None:
        """Stop the mailbox and close the database."""
        self.catcher.stop()
        self.container.close()


def _demo_organisation(files: DemoFiles) -> tuple[str, str]:
    """The URA and name in the demo practice's server certificate."""
    certificate = x509.load_pem_x509_certificate(
        (files.organisation / "server-cert.pem").read_bytes()
    )
    info = read_certificate(certificate)
    ura = info.uzi.ura if info.uzi is not None else DEMO_ORGANISATIONS[0].ura
    return ura, info.organisation_name or DEMO_ORGANISATIONS[0].name


#: The demo mailbox keeps the newest messages only, so a demo left running (or fuzzed) for
#: days stays small (about 20 KiB a message).
DEMO_MAILBOX_KEEPS = 500


def set_up(directory: Path, *, host: str, port: int) -> DemoService:
    """Make everything the demo needs in ``directory``; the caller serves it (and stops it)."""
    from zorgid.mail.catcher import MailCatcher  # noqa: PLC0415 - only the demo catches mail

    _fresh_demo_directory(directory)
    files = DemoFiles(directory)
    write_test_pki(files.pki, TestPki(now=SystemClock().now()))
    catcher = MailCatcher(host, keep=DEMO_MAILBOX_KEEPS)
    catcher.start()
    try:
        settings = Settings(
            data_dir=directory,
            public_url=f"http://{host}:{port}",
            host=host,
            port=port,
            log_level="warning",
            trust_anchors=str(files.pki / "ca" / "root.pem"),
            trust_intermediates=str(files.pki / "ca" / "server-ca.pem"),
            crl_files=str(files.pki / "crl"),
            smtp_host=catcher.host,
            smtp_port=catcher.port,
            inbound=True,
            inbound_host=host,
            inbound_port=_free_port(host),
            audit_checkpoint_dir=directory / "audit-checkpoints",
            audit_checkpoint_minutes=5,
        )
        container = open_container(settings, create_keys=True, migrate=True)
        container.validator()  # the trust files are read now: a problem shows at the start
        with container.unit_of_work() as session:
            _, issued = container.identity(session).add_operator(
                name="Olga de Operator", email="operator@zorgid.example", actor="demo", source="cli"
            )
            applications = container.applications(session)
            for ident, name, vendor, supports in DEMO_APPLICATIONS:
                applications.add(ident, name, vendor, supports, "", actor="demo", source="cli")
        write_qr_png(issued.qr_text, files.operator_qr)
        ura, organisation = _demo_organisation(files)
    except BaseException:
        catcher.stop()
        raise
    return DemoService(files, container, catcher, ura, organisation)


def sign_command(demo: DemoService, zorgid: str) -> str:
    """The validation tool command that signs the saved organisation document."""
    files = demo.files
    args = [
        "validatietool",
        "sign",
        str(files.document),
        "-o",
        str(files.signed),
        "--pkcs12",
        str(files.pkcs12),
        "--password-file",
        str(files.password_file),
    ]
    return zorgid + " " + " ".join(shlex.quote(a) for a in args)


def _heading(out: Out, title: str) -> None:
    click.secho("\n" + out._(title), fg="cyan", bold=True)


OPERATOR_STEPS = (
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
    N_(
        "Open {url}/beheer: the operator's back office. Here you will review the care "
        "organisation's request later. Keep this window open."
    ),
)
REGISTRATION_STEPS = (
    N_(
        "Preparation: open {url}/toepassingen, the list of accepted applications. The demo "
        "practice uses Voorbeeld HIS, which is on it."
    ),
    N_(
        "You are now the technical administrator of the practice. Open {url}/aanvraag and fill "
        "in the form:\n"
        "     URA: {ura}\n"
        "     Organisation: {organisation}\n"
        "   (both are in the practice's server certificate in {certificate})\n"
        "     Technical administrator: {technical_name}, {technical_email}\n"
        "     Portal administrator: {admin_name}, {admin_email}\n"
        "   Tick Voorbeeld HIS and send the form."
    ),
    N_(
        "The service's e-mails arrive in the demo mailbox: open {url}/demo/post. Open the "
        "e-mail to {technical_email} about signing the organisation document. Download its "
        "attachment (organisatiedocument-ZID-....xml) and save it as {document}"
    ),
    N_(
        "Sign the document with the validation tool and the practice's server certificate "
        "(PKCS#12; the password is in the file after --password-file). In the second terminal:\n"
        "     {sign}\n"
        "   The tool says with whose certificate it signed and where it saved the signed file."
    ),
    N_(
        "Back in the request e-mail, click the link that starts with {url}/aanvraag/. On "
        "that page choose the file {signed} and press Upload. The service "
        "checks the signature and says the document is accepted. (Replying to the e-mail with "
        "the signed file attached works too: the service receives mail by SMTP on {inbound}.)"
    ),
    N_(
        "You are now the portal administrator, {admin_name}. In the mailbox, open the e-mail "
        "to {admin_email} about your details and click the link that starts with "
        "{url}/gegevens/. Confirm that the e-mail address is yours, then give "
        "your full name, date of birth (such as 1980-05-17) and phone number."
    ),
    N_(
        "As the operator, open {url}/beheer again, open the request of {organisation}, check "
        "it and press Approve."
    ),
    N_(
        "In the mailbox, open the approval e-mail to {admin_email}. Download its attachment "
        "activatie-qr.png and save it as {admin_png}. Activate a second app, the portal "
        "administrator's phone:\n"
        "     {zorgid} app --home {admin_phone} activate {admin_png}\n"
        "   Choose a PIN; the app then shows {admin_name}."
    ),
    N_(
        "Open {url} in a private window (or another browser profile, so that the operator "
        "stays logged in) and log in as before, now with the administrator's app:\n"
        "     {zorgid} app --home {admin_phone} login <image file or text>\n"
        "   Type the code, give the PIN: the portal shows {admin_name}, administrator of "
        "{organisation}. The organisation is registered."
    ),
)


def print_instructions(out: Out, demo: DemoService, zorgid: str) -> None:
    """What the newcomer does, step by step, in ``out``'s language."""
    files = demo.files
    phone = files.directory / "telefoon"
    values: dict[str, object] = {
        "zorgid": zorgid,
        "phone": phone,
        "png": files.operator_qr,
        "url": demo.url,
        "ura": demo.ura,
        "organisation": demo.organisation,
        "certificate": files.organisation / "server-cert.pem",
        "technical_name": TECHNICAL[0],
        "technical_email": TECHNICAL[1],
        "admin_name": ADMINISTRATOR[0],
        "admin_email": ADMINISTRATOR[1],
        "document": files.document,
        "signed": files.signed,
        "sign": sign_command(demo, zorgid),
        "inbound": demo.inbound,
        "admin_png": files.admin_qr,
        "admin_phone": files.directory / "telefoon-petra",
    }
    click.secho(out._(N_("ZORG-ID demo: the service runs on this computer")), bold=True)
    click.echo(
        out._(
            N_(
                "Made in {dir}: a database, the service's keys, a test PKI that the service "
                "trusts, the accepted application Voorbeeld HIS, and a demo operator, Olga de "
                "Operator, with a one-time activation QR code ({png}). Every e-mail the service "
                "sends arrives in the demo mailbox at {url}/demo/post. The app on your phone is "
                "played by '{zorgid} app', with its files in {phone}."
            ),
            dir=files.directory,
            **values,
        )
    )
    _heading(out, N_("Part 1: the operator logs in"))
    for number, step in enumerate(OPERATOR_STEPS, 1):
        click.echo(f"\n{number}. " + out._(step, **values))
    _heading(out, N_("Part 2: a care organisation registers (flow 1b)"))
    for number, step in enumerate(REGISTRATION_STEPS, len(OPERATOR_STEPS) + 1):
        click.echo(f"\n{number}. " + out._(step, **values))
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
    with out.reporting():
        if not _port_free(host, port):
            raise PortTakenError(port=port)
        service = set_up(directory, host=host, port=port)
    try:
        print_instructions(out, service, _zorgid_command())
        run_server(service.container, out, routers=service.routers())
    finally:
        service.stop()


demo.add_command(validatietool_tour)
