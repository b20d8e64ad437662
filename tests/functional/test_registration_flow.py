"""Flow 1b end to end, as the organisation lives it: over real SMTP on loopback, with the real
validation tool and the real reference app, against the service running on SQLite and PostgreSQL.

The technical administrator submits the form, reads the request mail from the mailbox, completes
and signs the attached document with ``zorgid validatietool``, and replies to the request mail
with the signed file attached (SMTP to the service's inbound listener). The portal administrator
confirms their address and gives their details; the operator approves in the back office; the
administrator activates the app by decoding the QR in the approval mail, logs in, and the portal
shows them as administrator of the organisation.
"""

from __future__ import annotations

import datetime as dt
import re
import smtplib
import subprocess
import sys
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from tests.support.clock import ManualClock
from tests.support.identity_flows import add_operator
from tests.support.phone import PIN, ceremony, run_app
from tests.support.registration import (
    FORM,
    URA,
    add_application,
    demo_certificates,
    trust_settings,
)
from tests.support.server import Browser, Live, start_live
from zorgid.mail.catcher import CaughtMessage, MailCatcher
from zorgid.registration.models import RegistrationRequest
from zorgid.registration.states import RegistrationState

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from zorgid.pki.testpki import Issued


@dataclass
class Site:
    """The running service, its mailbox, and the organisation's certificate."""

    live: Live
    mailbox: MailCatcher
    server: Issued
    other: Issued
    inbound_port: int
    directory: Path

    def mail(self, to: str, about: Callable[[CaughtMessage], bool] | None = None) -> CaughtMessage:
        """Wait for a message to ``to`` (that ``about`` accepts)."""
        return self.mailbox.wait_for(
            lambda m: to in m.recipients and (about is None or about(m)), timeout=30
        )

    def reply(self, request_mail: CaughtMessage, *files: tuple[str, bytes]) -> None:
        """Reply to ``request_mail`` over SMTP with ``files`` attached."""
        reply = EmailMessage()
        reply["From"] = FORM.technical_email
        reply["To"] = str(request_mail.header("Reply-To"))
        reply["Subject"] = "Re: " + request_mail.subject
        reply["In-Reply-To"] = str(request_mail.header("Message-ID"))
        reply.set_content("Hierbij het ondertekende document.")
        for name, data in files:
            reply.add_attachment(data, maintype="application", subtype="xml", filename=name)
        with smtplib.SMTP("127.0.0.1", self.inbound_port, timeout=30) as smtp:
            smtp.send_message(reply)

    def state(self, number: str) -> RegistrationState:
        """The request's state in the database."""
        with self.live.container.reading() as session:
            row = session.query(RegistrationRequest).filter_by(number=number).one()
            return row.state


@pytest.fixture
def site(tmp_path: Path, database_url: str) -> Iterator[Site]:
    """The service with its outbox to a local mailbox and its inbound listener on."""
    clock = ManualClock(dt.datetime.now(dt.UTC))
    pki, server, other = demo_certificates(clock.now())
    mailbox = MailCatcher("127.0.0.1", 0)
    mailbox.start()
    try:
        for live in start_live(
            tmp_path,
            database_url,
            clock,
            smtp_port=mailbox.port,
            inbound=True,
            inbound_port=0,
            **trust_settings(pki, tmp_path),
        ):
            add_application(live.container)
            assert live.app is not None
            inbound = live.app.state.mail.inbound
            yield Site(live, mailbox, server, other, inbound.port, tmp_path)
    finally:
        mailbox.stop()


def csrf_of(html: str) -> str:
    """The CSRF token of the (first) form on a page."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:1000]
    return found.group(1)


def submit_form(site: Site) -> str:
    """The technical administrator fills in the application form; returns the request number."""
    browser = Browser(site.live.url)
    page = browser.get("/aanvraag")
    assert page.status_code == 200
    assert "Voorbeeld HIS" in page.text
    done = browser.post(
        "/aanvraag",
        data={
            "csrf": csrf_of(page.text),
            "ura": FORM.ura,
            "organisation_name": FORM.organisation_name,
            "technical_name": FORM.technical_name,
            "technical_email": FORM.technical_email,
            "admin_name": FORM.admin_name,
            "admin_email": FORM.admin_email,
            "applications": "example-his",
        },
    )
    assert done.status_code == 200, done.text
    number = re.search(r"ZID-[0-9]{4}-[0-9]{6}", done.text)
    assert number, done.text
    return number.group(0)


def validatietool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the validation tool as a technical administrator would."""
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "zorgid", "validatietool", *args, "--lang", "en"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def sign_with_tool(site: Site, request_mail: CaughtMessage, issued: Issued) -> bytes:
    """Save the attachment, complete it with ``fill``, sign it with ``sign``; the signed bytes."""
    [attachment] = request_mail.attachments
    prefilled = site.directory / attachment.filename
    prefilled.write_bytes(attachment.data)
    filled = site.directory / "ingevuld.xml"
    result = validatietool(
        "fill",
        str(prefilled),
        "--set",
        "TechnischBeheerder/Telefoon=+31201234567",
        "-o",
        str(filled),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    cert, key = site.directory / "server.pem", site.directory / "server.key"
    cert.write_bytes(
        b"".join(c.public_bytes(Encoding.PEM) for c in (issued.certificate, *issued.chain[:-1]))
    )
    key.write_bytes(issued.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    signed = site.directory / "ondertekend.xml"
    result = validatietool(
        "sign", str(filled), "-o", str(signed), "--cert", str(cert), "--key", str(key)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return signed.read_bytes()


def log_in_as_operator(site: Site) -> Browser:
    """An operator activates their app and logs in to the portal."""
    issued = add_operator(site.live.container, name="Olga Operator", email="olga@zorgid.test")
    home = site.directory / "phone-olga"
    result = run_app(home, "activate", issued.qr_text, "--pin-stdin", stdin=PIN + "\n")
    assert result.returncode == 0, result.stdout + result.stderr
    return logged_in(site, home)


def logged_in(site: Site, home: Path) -> Browser:
    """A QR login with the app in ``home``, completed: the browser has its portal session."""
    done = ceremony(site.live, home)
    assert done.app.returncode == 0, done.app.stdout + done.app.stderr
    completed = done.browser.post(
        f"/login/{done.page.login_id}/complete", data={"csrf": done.page.csrf}
    )
    assert completed.status_code == 303, completed.text
    return done.browser


def test_flow_1b_from_the_form_to_the_administrators_first_login(site: Site) -> None:
    # Step 2: the form; the request mail arrives with the prefilled document.
    number = submit_form(site)
    request_mail = site.mail(FORM.technical_email, lambda m: number in m.subject)
    assert str(request_mail.header("Reply-To")).startswith("aanvraag+")
    assert site.state(number) is RegistrationState.AWAITING_DOCUMENT

    # Step 3: sign with the validation tool and reply by mail.
    signed = sign_with_tool(site, request_mail, site.server)
    site.reply(request_mail, ("ondertekend.xml", signed))
    result = site.mail(FORM.technical_email, lambda m: "accepted" in m.subject.lower())
    assert "URA 90000123" in result.text
    assert site.state(number) is RegistrationState.AWAITING_DETAILS

    # Step 4: the portal administrator confirms the address and gives the details.
    details_mail = site.mail(FORM.admin_email, lambda m: "/gegevens/" in m.text)
    link = re.search(r"/gegevens/([A-Za-z0-9_-]+)", details_mail.text)
    assert link
    admin = Browser(site.live.url)
    path = f"/gegevens/{link.group(1)}"
    confirm = admin.post(f"{path}/bevestigen", data={"csrf": csrf_of(admin.get(path).text)})
    assert confirm.status_code in {200, 303}, confirm.text
    given = admin.post(
        path,
        data={
            "csrf": csrf_of(admin.get(path).text),
            "full_name": "Petra Anna de Vries",
            "birth_date": "1980-05-17",
            "phone": "+31 6 12345678",
        },
    )
    assert given.status_code in {200, 303}, given.text
    assert site.state(number) is RegistrationState.AWAITING_REVIEW

    # Step 5: the operator reviews and approves in the back office.
    operator = log_in_as_operator(site)
    queue = operator.get("/beheer")
    assert number in queue.text
    request_id = re.search(r"/beheer/aanvragen/([A-Za-z0-9_-]+)", queue.text)
    assert request_id
    detail_path = f"/beheer/aanvragen/{request_id.group(1)}"
    detail = operator.get(detail_path)
    assert "90000123" in detail.text
    approved = operator.post(f"{detail_path}/goedkeuren", data={"csrf": csrf_of(detail.text)})
    assert approved.status_code in {200, 303}, approved.text
    assert site.state(number) is RegistrationState.APPROVED

    # Step 6: the activation QR arrives by mail; the app decodes it from the image.
    activation = site.mail(
        FORM.admin_email, lambda m: any(a.content_type == "image/png" for a in m.attachments)
    )
    png = next(a for a in activation.attachments if a.content_type == "image/png")
    qr = site.directory / "activatie-qr.png"
    qr.write_bytes(png.data)
    home = site.directory / "phone-petra"
    activated = run_app(home, "activate", str(qr), "--pin-stdin", stdin=PIN + "\n")
    assert activated.returncode == 0, activated.stdout + activated.stderr
    assert "Petra Anna de Vries" in activated.stdout
    shown = run_app(home, "id", "--json")
    assert URA in shown.stdout
    assert "administrator" in shown.stdout

    # Step 7: the administrator logs in; the portal shows the organisation; the request is done.
    portal = logged_in(site, home).get("/")
    assert "Petra Anna de Vries" in portal.text
    assert FORM.organisation_name in portal.text
    assert site.state(number) is RegistrationState.COMPLETED
