"""Bad replies to a request e-mail, sent over real SMTP to the service's inbound listener.

Each gets its specific answer — an SMTP refusal at the door, or a mail to the technical
administrator's address on the request saying what was wrong — and the request stays exactly
where it was: same state, challenge unused. (security.md, "E-mail"; the signed-XML attack
classes themselves are covered one by one in tests/unit/orgdoc.)
"""

from __future__ import annotations

import dataclasses
import email.policy
import smtplib
from email.message import EmailMessage
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from tests.support.registration import FORM, OTHER_URA, sign
from tests.support.site import Site, reply_to, submit_form
from zorgid.core.tokens import new_token
from zorgid.mail.inbound import new_mail_token, reply_address
from zorgid.orgdoc.document import parse_document
from zorgid.registration.models import RegistrationEvent as TimelineRow
from zorgid.registration.states import RegistrationState

if TYPE_CHECKING:
    from collections.abc import Callable

    from zorgid.mail.catcher import CaughtMessage


def request_for(site: Site) -> tuple[str, CaughtMessage]:
    """A new request and its request mail."""
    number = submit_form(site)
    return number, site.mail(FORM.technical_email, lambda m: number in m.subject)


def signed(site: Site, mail: CaughtMessage, *, by: str = "ours", **changes: str) -> bytes:
    """The mail's document with ``changes`` (path=value), signed now by ours or the other's."""
    _, document = parse_document(mail.attachments[0].data)
    document = document.with_values(
        [(path.replace("__", "/"), value) for path, value in changes.items()]
    )
    document = dataclasses.replace(document, ondertekend=site.live.clock.now())
    return sign(document, site.server if by == "ours" else site.other)


def refusal(site: Site, number: str) -> str:
    """The code of the last refusal on the request's timeline, after its answer mail arrived."""
    site.mail(FORM.technical_email, lambda m: number in m.subject and "could not" in m.subject)
    request = site.request(number)
    with site.live.container.reading() as session:
        details = session.scalars(
            select(TimelineRow.details)
            .where(TimelineRow.request_id == request.id, TimelineRow.kind == "document_refused")
            .order_by(TimelineRow.id.desc())
        ).first()
    assert details is not None
    return str(details["code"])


def unchanged(site: Site, number: str) -> None:
    request = site.request(number)
    assert request.state is RegistrationState.AWAITING_DOCUMENT
    assert request.challenge_used_at is None
    assert request.signed_document is None


def tampered(site: Site, mail: CaughtMessage) -> bytes:
    return signed(site, mail).replace(FORM.organisation_name.encode(), b"Huisartsenpraktijk De Eik")


CASES: dict[str, tuple[Callable[[Site, CaughtMessage], list[tuple[str, bytes]]], str]] = {
    "no attachment": (lambda _s, _m: [], "mail_no_attachment"),
    "two attachments": (
        lambda s, m: [("a.xml", signed(s, m)), ("b.xml", signed(s, m))],
        "mail_too_many_attachments",
    ),
    "unsigned": (lambda _s, m: [("doc.xml", m.attachments[0].data)], "signature_missing"),
    "tampered": (lambda s, m: [("doc.xml", tampered(s, m))], "signature_digest_mismatch"),
    "signed by another organisation's certificate": (
        lambda s, m: [("doc.xml", signed(s, m, by="other"))],
        "ura_mismatch",
    ),
    "wrong URA": (
        lambda s, m: [("doc.xml", signed(s, m, by="other", Organisatie__URA=OTHER_URA))],
        "ura_unexpected",
    ),
    "foreign challenge": (
        lambda s, m: [("doc.xml", signed(s, m, Aanvraag__Uitdaging=new_token(32)))],
        "challenge_unknown",
    ),
    "another request's number": (
        lambda s, m: [("doc.xml", signed(s, m, Aanvraag__Aanvraagnummer="ZID-2026-000001"))],
        "request_mismatch",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_reply_gets_its_specific_answer_and_changes_nothing(site: Site, case: str) -> None:
    number, mail = request_for(site)
    attach, code = CASES[case]

    site.reply(mail, *attach(site, mail))

    assert refusal(site, number) == code
    unchanged(site, number)


def test_a_replayed_document_after_a_resend_is_refused(site: Site) -> None:
    number, first = request_for(site)
    old = signed(site, first)
    with site.live.container.unit_of_work() as session:
        site.live.container.registration(session).resend(
            site.request(number).id, actor="op", source="test"
        )
    second = site.mail(FORM.technical_email, lambda m: number in m.subject and m.id != first.id)

    site.reply(second, ("doc.xml", old))

    assert refusal(site, number) == "challenge_unknown"
    unchanged(site, number)


def test_an_unknown_reply_address_is_refused_at_the_door(site: Site) -> None:
    number, mail = request_for(site)
    stranger = reply_address(new_mail_token(), domain=site.live.container.settings.mail_domain)

    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        site.send(stranger, reply_to(mail, ("doc.xml", signed(site, mail))))

    code, text = refused.value.recipients[stranger]
    assert code == 550
    assert b"unknown" in text
    unchanged(site, number)


def test_an_oversized_reply_is_refused_and_the_sender_told(site: Site) -> None:
    number, mail = request_for(site)
    limit = site.live.container.settings.inbound_max_bytes
    huge = reply_to(mail, ("doc.xml", signed(site, mail)), ("big.xml", b"x" * (limit + 1)))

    with pytest.raises(smtplib.SMTPResponseException) as refused:
        site.send(str(mail.header("Reply-To")), huge)

    assert refused.value.smtp_code == 552
    assert refusal(site, number) == "mail_too_large"
    unchanged(site, number)


def test_deeply_nested_mime_is_refused_and_the_sender_told(site: Site) -> None:
    number, mail = request_for(site)
    inner = EmailMessage()
    inner.add_attachment(
        signed(site, mail), maintype="application", subtype="xml", filename="d.xml"
    )
    for _ in range(60):
        outer = EmailMessage()
        outer.set_content("nested")
        outer.add_attachment(inner)
        inner = outer
    inner["From"] = FORM.technical_email
    inner["To"] = str(mail.header("Reply-To"))
    inner["Subject"] = "Re: " + mail.subject

    site.send(str(mail.header("Reply-To")), inner.as_bytes(policy=email.policy.SMTP))

    assert refusal(site, number) == "mail_too_complex"
    unchanged(site, number)


def test_answers_go_to_the_registered_address_never_to_the_sender(site: Site) -> None:
    number, mail = request_for(site)
    spoofed = EmailMessage()
    spoofed["From"] = "attacker@evil.example"
    spoofed["To"] = str(mail.header("Reply-To"))
    spoofed["Subject"] = "Re: " + mail.subject
    spoofed.set_content("no attachment")

    with smtplib.SMTP("127.0.0.1", site.inbound_port, timeout=30) as smtp:
        smtp.sendmail(
            "attacker@evil.example",
            [str(mail.header("Reply-To"))],
            spoofed.as_bytes(policy=email.policy.SMTP),
        )

    assert refusal(site, number) == "mail_no_attachment"
    assert all("attacker@evil.example" not in m.recipients for m in site.mailbox.messages())
    unchanged(site, number)
