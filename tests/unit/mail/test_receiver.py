from __future__ import annotations

import smtplib
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiosmtpd
import pytest

from zorgid.core.i18n import N_
from zorgid.errors import ZorgidError
from zorgid.mail.compose import compose
from zorgid.mail.receiver import InboundServer

if TYPE_CHECKING:
    from collections.abc import Iterator

KNOWN = "aanvraag+known@zorgid.test"
OTHER = "aanvraag+other@zorgid.test"
REFUSING = "aanvraag+refusing@zorgid.test"
BROKEN = "aanvraag+broken@zorgid.test"


class DocumentMissingError(ZorgidError):
    code = "document_missing"
    message = N_("Your e-mail has no signed document attached.")


@dataclass
class RecordingHandler:
    received: list[tuple[str, str, bytes]] = field(default_factory=list)
    too_large_for: list[str] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    told_too_large: threading.Event = field(default_factory=threading.Event)

    def accepts_recipient(self, address: str) -> bool:
        return address.lower() in {KNOWN, OTHER, REFUSING, BROKEN}

    def receive(self, recipient: str, envelope_from: str, raw: bytes) -> None:
        if recipient == REFUSING:
            raise DocumentMissingError("no attachment")
        if recipient == BROKEN:
            msg = "database gone"
            raise RuntimeError(msg)
        self.received.append((recipient, envelope_from, raw))
        self.arrived.set()

    def too_large(self, recipient: str) -> None:
        self.too_large_for.append(recipient)
        self.told_too_large.set()


def _raw(text: str = "Hierbij het document.") -> bytes:
    return compose(
        sender="jan@praktijk.test",
        recipient=KNOWN,
        subject="Re: aanvraag",
        text=text,
        message_id_domain="praktijk.test",
    ).as_bytes()


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
def server(handler: RecordingHandler) -> Iterator[InboundServer]:
    running = InboundServer("127.0.0.1", 0, handler, max_bytes=20_000)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def smtp(server: InboundServer) -> Iterator[smtplib.SMTP]:
    with smtplib.SMTP(server.host, server.port, timeout=10) as client:
        yield client


def test_a_good_message_reaches_the_handler_exactly_once(
    smtp: smtplib.SMTP, handler: RecordingHandler
) -> None:
    raw = _raw()

    refused = smtp.sendmail("jan@praktijk.test", [KNOWN], raw)

    assert refused == {}
    assert handler.received == [(KNOWN, "jan@praktijk.test", raw)]


def test_an_unknown_recipient_is_refused_with_550_and_a_hint(
    smtp: smtplib.SMTP, handler: RecordingHandler
) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        smtp.sendmail("jan@praktijk.test", ["aanvraag+gone@zorgid.test"], _raw())

    code, reply = refused.value.recipients["aanvraag+gone@zorgid.test"]
    assert code == 550
    assert reply.startswith(b"5.1.1 ")
    assert b"no longer valid" in reply
    assert b"latest e-mail" in reply
    assert handler.received == []


def test_a_message_over_the_limit_gets_552_and_the_handler_is_told(
    smtp: smtplib.SMTP, handler: RecordingHandler
) -> None:
    smtp.ehlo()
    # Not advertised, so a client cannot give up before naming the recipient.
    assert not smtp.has_extn("size")

    with pytest.raises(smtplib.SMTPDataError) as refused:
        smtp.sendmail("jan@praktijk.test", [KNOWN], _raw("x" * 30_000))

    assert refused.value.smtp_code == 552
    assert handler.told_too_large.wait(10)
    assert handler.too_large_for == [KNOWN]
    assert handler.received == []


def test_a_refusal_by_the_service_is_a_permanent_550_with_its_message(
    smtp: smtplib.SMTP, handler: RecordingHandler
) -> None:
    with pytest.raises(smtplib.SMTPDataError) as refused:
        smtp.sendmail("jan@praktijk.test", [REFUSING], _raw())

    assert refused.value.smtp_code == 550
    assert refused.value.smtp_error == (b"5.6.0 Your e-mail has no signed document attached.")
    assert handler.received == []


def test_a_defect_in_the_handler_is_a_temporary_451(smtp: smtplib.SMTP) -> None:
    with pytest.raises(smtplib.SMTPDataError) as refused:
        smtp.sendmail("jan@praktijk.test", [BROKEN], _raw())

    assert refused.value.smtp_code == 451
    assert refused.value.smtp_error == b"4.3.0 Temporary failure, please try again later"


def test_smtp_takes_one_recipient_per_transaction(
    smtp: smtplib.SMTP, handler: RecordingHandler
) -> None:
    refused = smtp.sendmail("jan@praktijk.test", [KNOWN, OTHER], _raw())

    assert refused == {
        OTHER: (452, b"4.5.3 One recipient per message: send to the others separately")
    }
    assert [recipient for recipient, _, _ in handler.received] == [KNOWN]


def test_the_connection_stays_usable_after_a_refusal(
    smtp: smtplib.SMTP, handler: RecordingHandler
) -> None:
    with pytest.raises(smtplib.SMTPDataError):
        smtp.sendmail("jan@praktijk.test", [BROKEN], _raw())

    smtp.sendmail("jan@praktijk.test", [KNOWN], _raw())

    assert len(handler.received) == 1


def test_lmtp_answers_once_per_recipient(handler: RecordingHandler) -> None:
    server = InboundServer("127.0.0.1", 0, handler, lmtp=True)
    server.start()
    try:
        with smtplib.LMTP(server.host, server.port, timeout=10) as lmtp:
            lmtp.ehlo()  # smtplib.LMTP says LHLO
            assert lmtp.mail("jan@praktijk.test") == (250, b"OK")
            assert lmtp.rcpt(KNOWN)[0] == 250
            assert lmtp.rcpt(REFUSING)[0] == 250
            assert lmtp.rcpt("aanvraag+gone@zorgid.test")[0] == 550
            first = lmtp.data(_raw())
            second = lmtp.getreply()
    finally:
        server.stop()

    assert first == (250, b"2.0.0 OK")
    assert second == (550, b"5.6.0 Your e-mail has no signed document attached.")
    assert [recipient for recipient, _, _ in handler.received] == [KNOWN]


def test_lmtp_delivers_through_smtplib_sendmail(handler: RecordingHandler) -> None:
    server = InboundServer("127.0.0.1", 0, handler, lmtp=True)
    server.start()
    try:
        with smtplib.LMTP(server.host, server.port, timeout=10) as lmtp:
            lmtp.sendmail("jan@praktijk.test", [KNOWN], _raw())
    finally:
        server.stop()

    assert [recipient for recipient, _, _ in handler.received] == [KNOWN]


def test_lmtp_refuses_ehlo(handler: RecordingHandler) -> None:
    server = InboundServer("127.0.0.1", 0, handler, lmtp=True)
    server.start()
    try:
        with smtplib.SMTP(server.host, server.port, timeout=10) as smtp:
            code, _ = smtp.ehlo()
    finally:
        server.stop()

    assert code == 500


def test_the_greeting_names_neither_library_nor_version(server: InboundServer) -> None:
    with smtplib.SMTP(timeout=10) as client:
        code, greeting = client.connect(server.host, server.port)
        _, extensions = client.ehlo("client.test")

    assert code == 220
    assert greeting.decode() == f"{server.host} ESMTP"
    said = (greeting + extensions).decode().lower()
    assert "python" not in said
    assert aiosmtpd.__version__ not in said
