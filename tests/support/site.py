"""The whole registration site for functional tests: the service on loopback with its outbox
going to a local mailbox (a real SMTP catcher) and its inbound listener on, trusting a test PKI.

``site`` (a fixture, on SQLite and PostgreSQL) gives a :class:`Site`.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import re
import smtplib
import subprocess
import sys
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from tests.support.clock import ManualClock
from tests.support.identity import PIN
from tests.support.identity_flows import add_operator
from tests.support.phone import ceremony, run_app
from tests.support.proofofwork import solved
from tests.support.registration import FORM, add_application, demo_certificates, trust_settings
from tests.support.server import Browser, Live, csrf_of, start_live
from zorgid.mail.catcher import CaughtMessage, MailCatcher
from zorgid.registration.models import RegistrationRequest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from zorgid.pki.testpki import Issued
    from zorgid.registration.states import RegistrationState


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
        self.send(str(request_mail.header("Reply-To")), reply_to(request_mail, *files))

    def send(self, to: str, raw: bytes) -> None:
        """Send ``raw`` to ``to`` through the service's inbound listener."""
        with smtplib.SMTP("127.0.0.1", self.inbound_port, timeout=30) as smtp:
            smtp.sendmail(FORM.technical_email, [to], raw)

    def request(self, number: str) -> RegistrationRequest:
        """The request's row (detached)."""
        with self.live.container.reading() as session:
            row = session.query(RegistrationRequest).filter_by(number=number).one()
            session.expunge(row)
            return row

    def state(self, number: str) -> RegistrationState:
        """The request's state in the database."""
        return self.request(number).state


def reply_to(request_mail: CaughtMessage, *files: tuple[str, bytes]) -> bytes:
    """A reply to ``request_mail`` with ``files`` attached, as a mail program writes it."""
    reply = EmailMessage()
    reply["From"] = FORM.technical_email
    reply["To"] = str(request_mail.header("Reply-To"))
    reply["Subject"] = "Re: " + request_mail.subject
    reply["In-Reply-To"] = str(request_mail.header("Message-ID"))
    reply.set_content("Hierbij het ondertekende document.")
    for name, data in files:
        reply.add_attachment(data, maintype="application", subtype="xml", filename=name)
    return reply.as_bytes(policy=email.policy.SMTP)  # CRLF, as on the wire


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


#: The application form as the technical administrator posts it.
FORM_POST = {
    "ura": FORM.ura,
    "organisation_name": FORM.organisation_name,
    "technical_name": FORM.technical_name,
    "technical_email": FORM.technical_email,
    "admin_name": FORM.admin_name,
    "admin_email": FORM.admin_email,
    "applications": "example-his",
}


def submit_form(site: Site | Browser) -> str:
    """The technical administrator fills in the application form; returns the request number."""
    browser = Browser(site.live.url) if isinstance(site, Site) else site
    page = browser.get("/aanvraag")
    assert page.status_code == 200
    assert "Voorbeeld HIS" in page.text
    done = browser.post(
        "/aanvraag",
        data={"csrf": csrf_of(page.text), "altcha": solved(browser), **FORM_POST},
    )
    assert done.status_code == 200, done.text
    number = re.search(r"ZID-[0-9]{4}-[0-9]{6}", done.text)
    assert number, done.text
    return number.group(0)


def validatietool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the validation tool as a technical administrator would."""
    return subprocess.run(
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
