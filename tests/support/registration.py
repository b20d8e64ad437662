"""A registration world for tests: a test PKI the service trusts, an accepted application, and
helpers to submit a request, read its mails from the outbox and sign its document.

``registration`` (a fixture, on SQLite and PostgreSQL like ``container``) gives a
:class:`World` whose container verifies documents against the world's test PKI.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select

from tests.support.clock import START, ManualClock
from zorgid.applications.models import AcceptedApplication
from zorgid.bootstrap import build
from zorgid.mail.models import OutboxMessage
from zorgid.orgdoc.document import build_tree, parse_document
from zorgid.orgdoc.keys import SoftwareSigner
from zorgid.orgdoc.signature import sign_tree
from zorgid.pki.testpki import Issued, TestPki, new_ec_key
from zorgid.registration.models import RegistrationRequest
from zorgid.registration.views import AdminDetails, ApplicationForm

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterator
    from email.message import EmailMessage
    from pathlib import Path

    from zorgid.bootstrap import Container
    from zorgid.orgdoc.document import OrganisationDocument
    from zorgid.registration.service import RegistrationService
    from zorgid.registration.views import Submitted
    from zorgid.settings import Settings

URA = "90000123"
OTHER_URA = "90000456"
FORM = ApplicationForm(
    ura=URA,
    organisation_name="Huisartsenpraktijk De Linde",
    technical_name="Jan Jansen",
    technical_email="it@delinde.example",
    admin_name="Petra de Vries",
    admin_email="petra@delinde.example",
    applications=("example-his",),
)
DETAILS = AdminDetails(
    full_name="Petra Anna de Vries", birth_date="1980-05-17", phone="+31612345678"
)


@dataclass
class World:
    """A container that trusts ``pki``, with the certificates of two organisations."""

    container: Container
    clock: ManualClock
    pki: TestPki
    server: Issued
    other_server: Issued
    directory: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def service(self, session: object) -> RegistrationService:
        """The registration service around ``session``."""
        return self.container.registration(session)  # type: ignore[arg-type]

    def submit(self, form: ApplicationForm = FORM) -> Submitted:
        """Submit the application form."""
        with self.container.unit_of_work() as session:
            return self.service(session).submit(form, language="nl", source="127.0.0.1")

    def mails(self, to: str | None = None) -> list[EmailMessage]:
        """Every message in the outbox (to ``to``), oldest first."""
        with self.container.reading() as session:
            rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at)).all()
            raws = [r.raw for r in rows if to is None or r.recipient == to]
        return [email.message_from_bytes(raw, policy=email.policy.default) for raw in raws]

    def last_mail(self, to: str) -> EmailMessage:
        """The newest message to ``to``."""
        found = self.mails(to)
        assert found, f"no mail to {to}"
        return found[-1]

    def reply_token(self, to: str = FORM.technical_email) -> str:
        """The token in the Reply-To of the newest request mail."""
        reply_to = str(self.last_request_mail(to)["Reply-To"])
        return reply_to.split("+", 1)[1].split("@", 1)[0]

    def last_request_mail(self, to: str = FORM.technical_email) -> EmailMessage:
        """The newest mail that carries the document to sign."""
        found = [m for m in self.mails(to) if m["Reply-To"]]
        assert found, "no request mail"
        return found[-1]

    def prefilled(self, to: str = FORM.technical_email) -> bytes:
        """The unsigned document attached to the newest request mail."""
        for part in self.last_request_mail(to).iter_attachments():
            data = part.get_content()
            return data if isinstance(data, bytes) else data.encode()
        msg = "the request mail has no attachment"
        raise AssertionError(msg)

    def signed(
        self,
        *,
        issued: Issued | None = None,
        changes: dict[str, str] | None = None,
        prefilled: bytes | None = None,
    ) -> bytes:
        """The prefilled document, changed as told, signed by ``issued`` (default: ours)."""
        _, document = parse_document(prefilled or self.prefilled())
        if changes:
            document = document.with_values(changes.items())
        document = dataclasses.replace(document, ondertekend=self.clock.now())
        return sign(document, issued or self.server)

    def details_token(self, to: str = FORM.admin_email) -> str:
        """The token in the newest link to the administrator's page."""
        return body(self.last_mail(to)).split("/gegevens/", 1)[1].split()[0]

    def request(self, number: str) -> RegistrationRequest:
        """The request row (detached) with this number."""
        with self.container.reading() as session:
            row = session.scalars(
                select(RegistrationRequest).where(RegistrationRequest.number == number)
            ).one()
            session.expunge(row)
            return row

    def to_awaiting_details(self) -> Submitted:
        """Submit and upload a valid signed document."""
        submitted = self.submit()
        token = self.reply_token()
        with self.container.unit_of_work() as session:
            result = self.service(session).upload(token, self.signed(), source="127.0.0.1")
        assert result.accepted, result.error
        return submitted

    def to_awaiting_review(self) -> Submitted:
        """... then the administrator confirms the address and gives the details."""
        submitted = self.to_awaiting_details()
        token = self.details_token()
        with self.container.unit_of_work() as session:
            self.service(session).confirm_email(token, source="127.0.0.1")
        with self.container.unit_of_work() as session:
            self.service(session).give_details(token, DETAILS, source="127.0.0.1")
        return submitted

    def to_approved(self, operator: str = "person:operator") -> Submitted:
        """... then the operator approves."""
        submitted = self.to_awaiting_review()
        with self.container.unit_of_work() as session:
            self.service(session).approve(submitted.request_id, actor=operator, source="127.0.0.1")
        return submitted


def body(mail: EmailMessage) -> str:
    """The plain-text body of ``mail``."""
    part = mail.get_body(("plain",))
    assert part is not None, "no text body"
    text = part.get_content()
    assert isinstance(text, str)
    return text


def sign(document: OrganisationDocument, issued: Issued) -> bytes:
    """``document`` signed with ``issued``'s key, its chain in KeyInfo."""
    signer = SoftwareSigner(issued.key, issued.certificate, issued.chain[:-1])
    return sign_tree(build_tree(document), signer)


def demo_certificates(now: dt.datetime) -> tuple[TestPki, Issued, Issued]:
    """A test PKI valid at ``now``, with the server certificates of two organisations."""
    pki = TestPki(now=now, key_bits=2048)
    server = pki.issue_server(
        ura=URA,
        organisation=FORM.organisation_name,
        fqdn="his.delinde.example",
        uzi_number="900030001",
        key=new_ec_key(),
    )
    other = pki.issue_server(
        ura=OTHER_URA,
        organisation="Apotheek Het Anker",
        fqdn="apotheek.anker.example",
        uzi_number="900030002",
        key=new_ec_key(),
    )
    return pki, server, other


def trust_settings(pki: TestPki, directory: Path) -> dict[str, str]:
    """Settings that make the service trust ``pki`` (root and CRLs written to ``directory``)."""
    anchor = directory / "root.pem"
    anchor.write_bytes(pki.root.certificate.public_bytes(Encoding.PEM))
    crls = directory / "crls"
    crls.mkdir(exist_ok=True)
    for ca in pki.cas:
        (crls / f"{ca.slug}.crl").write_bytes(pki.crl(ca).public_bytes(Encoding.DER))
    return {"trust_anchors": str(anchor), "crl_files": str(crls)}


def add_application(container: Container) -> None:
    """Put ``example-his`` on the list of accepted applications."""
    with container.unit_of_work() as session:
        now = container.clock.now()
        session.add(
            AcceptedApplication(
                id="example-his",
                name="Voorbeeld HIS",
                vendor="Voorbeeld Software B.V.",
                supports="Inloggen met ZORG-ID (OpenID Connect)",
                website=None,
                created_at=now,
                updated_at=now,
                withdrawn_at=None,
            )
        )


def make_world(settings: Settings, clock: ManualClock, directory: Path) -> World:
    """A world on ``settings``' database whose trust is a fresh test PKI in ``directory``."""
    pki, server, other = demo_certificates(START)
    container = build(
        settings.replace(**trust_settings(pki, directory)), clock=clock, create_keys=True
    )
    add_application(container)
    return World(container, clock, pki, server, other, directory)


@pytest.fixture
def registration(settings: Settings, clock: ManualClock, tmp_path: Path) -> Iterator[World]:
    """A registration world on the test's database (SQLite and PostgreSQL)."""
    world = make_world(settings, clock, tmp_path)
    try:
        yield world
    finally:
        world.container.close()
