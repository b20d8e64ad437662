from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest

from zorgid.mail.compose import Attachment, compose
from zorgid.mail.errors import MailHeaderError
from zorgid.mail.inbound import InboundLimits, parse_inbound

if TYPE_CHECKING:
    from email.message import EmailMessage

INJECTION = "x\r\nBcc: victim@example.org"


def _message(**overrides: object) -> EmailMessage:
    fields: dict[str, object] = {
        "sender": "ZORG-ID <noreply@zorgid.test>",
        "recipient": "jan@praktijk.test",
        "subject": "Uw aanvraag — stap 2",
        "text": "Beste Jan,\n\nOnderteken het document. Groeten, Zoë\n",
        "message_id_domain": "zorgid.test",
    }
    fields.update(overrides)
    return compose(**fields)  # type: ignore[arg-type]


def test_a_plain_message_has_the_headers_and_the_text_in_utf8() -> None:
    message = _message(
        reply_to="aanvraag+abc@zorgid.test",
        date=dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC),
        headers={"Auto-Submitted": "auto-generated"},
    )

    assert message["From"] == "ZORG-ID <noreply@zorgid.test>"
    assert message["To"] == "jan@praktijk.test"
    assert message["Reply-To"] == "aanvraag+abc@zorgid.test"
    assert message["Subject"] == "Uw aanvraag — stap 2"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Date"] == "Fri, 01 May 2026 12:00:00 +0000"
    assert str(message["Message-ID"]).endswith("@zorgid.test>")
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert message.get_content() == "Beste Jan,\n\nOnderteken het document. Groeten, Zoë\n"


def test_every_message_gets_its_own_message_id() -> None:
    assert _message()["Message-ID"] != _message()["Message-ID"]


def test_the_wire_form_is_seven_bit_with_crlf_line_ends() -> None:
    raw = _message(attachments=[Attachment("bijlage.pdf", "application/pdf", bytes(range(256)))])
    wire = raw.as_bytes()

    assert wire.isascii()
    assert b"\r\n" in wire
    assert b"\n" not in wire.replace(b"\r\n", b"")


def test_html_alternative_and_attachments_survive_a_round_trip() -> None:
    document = b"<?xml version='1.0'?><organisatiedocument/>"
    png = b"\x89PNG\r\n\x1a\n" + bytes(100)
    message = _message(
        html="<p>Beste Jan</p>",
        attachments=[
            Attachment("organisatiedocument.xml", "application/xml", document),
            Attachment("logo ë.png", "image/png", png),
        ],
    )

    assert message.get_content_type() == "multipart/mixed"
    body = message.get_body(preferencelist=("html",))
    assert body is not None
    assert body.get_content() == "<p>Beste Jan</p>\n"
    read = parse_inbound(message.as_bytes(), InboundLimits())
    assert read.subject == "Uw aanvraag — stap 2"
    assert read.text.startswith("Beste Jan,")
    assert [(a.filename, a.content_type, a.data) for a in read.attachments] == [
        ("organisatiedocument.xml", "application/xml", document),
        ("logo ë.png", "image/png", png),
    ]


@pytest.mark.parametrize(
    "overrides",
    [
        {"subject": INJECTION},
        {"recipient": "jan@praktijk.test\r\nBcc: victim@example.org"},
        {"recipient": "jan@praktijk.test\nBcc: victim@example.org"},
        {"sender": "noreply@zorgid.test\rBcc: victim@example.org"},
        {"reply_to": "aanvraag@zorgid.test\r\nBcc: victim@example.org"},
        {"headers": {"X-Zorgid-Request": INJECTION}},
        {"headers": {"X-Bad\r\nBcc": "victim@example.org"}},
        {"attachments": [Attachment(INJECTION, "text/plain", b"x")]},
        {"attachments": [Attachment("a.txt", "text/plain\r\nBcc: victim@example.org", b"x")]},
    ],
    ids=[
        "subject",
        "to-crlf",
        "to-lf",
        "from-cr",
        "reply-to",
        "header-value",
        "header-name",
        "filename",
        "content-type",
    ],
)
def test_header_injection_is_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(MailHeaderError) as refused:
        _message(**overrides)

    assert refused.value.code == "mail_header"


@pytest.mark.parametrize("recipient", ["not an address", "a@x.test, b@x.test", ""])
def test_a_recipient_must_be_exactly_one_address(recipient: str) -> None:
    with pytest.raises(MailHeaderError):
        _message(recipient=recipient)


@pytest.mark.parametrize("name", ["From", "bcc", "Message-ID", "Content-Type"])
def test_extra_headers_cannot_replace_the_composed_ones(name: str) -> None:
    with pytest.raises(MailHeaderError):
        _message(headers={name: "someone@example.org"})
