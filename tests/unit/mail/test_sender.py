from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import pytest

from zorgid.core.i18n import N_
from zorgid.errors import ZorgidError
from zorgid.mail.catcher import MailCatcher
from zorgid.mail.compose import compose
from zorgid.mail.errors import MailDeliveryError
from zorgid.mail.receiver import InboundServer
from zorgid.mail.sender import SmtpSender

if TYPE_CHECKING:
    from collections.abc import Iterator

RAW = compose(
    sender="noreply@zorgid.test",
    recipient="jan@praktijk.test",
    subject="Uw aanvraag",
    text="Beste Jan,",
    message_id_domain="zorgid.test",
).as_bytes()


class RefusedError(ZorgidError):
    code = "refused"
    message = N_("Refused.")


class Relay:
    """A relay that knows one mailbox, refuses one message for good and fails on another."""

    def accepts_recipient(self, address: str) -> bool:
        return address != "nobody@praktijk.test"

    def receive(self, recipient: str, envelope_from: str, raw: bytes) -> None:
        del envelope_from, raw
        if recipient == "refused@praktijk.test":
            raise RefusedError
        if recipient == "busy@praktijk.test":
            msg = "disk full"
            raise RuntimeError(msg)

    def too_large(self, recipient: str) -> None:
        del recipient


@pytest.fixture
def relay() -> Iterator[InboundServer]:
    server = InboundServer("127.0.0.1", 0, Relay())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_message_reaches_the_relay(mail_catcher: MailCatcher) -> None:
    SmtpSender(mail_catcher.host, mail_catcher.port).send(
        "bounces@zorgid.test", "jan@praktijk.test", RAW
    )

    caught = mail_catcher.wait_for()
    assert caught.envelope_from == "bounces@zorgid.test"
    assert caught.recipients == ("jan@praktijk.test",)
    assert caught.raw == RAW


def test_a_relay_that_is_not_there_is_a_temporary_failure() -> None:
    catcher = MailCatcher()
    catcher.start()
    port = catcher.port
    catcher.stop()

    with pytest.raises(MailDeliveryError) as failed:
        SmtpSender("127.0.0.1", port).send("a@zorgid.test", "jan@praktijk.test", RAW)

    assert failed.value.temporary
    assert "cannot reach" in failed.value.detail


def test_a_relay_that_does_not_answer_is_a_temporary_failure() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # listens, never greets
        port = silent.getsockname()[1]
        with pytest.raises(MailDeliveryError) as failed:
            SmtpSender("127.0.0.1", port, timeout=0.2).send(
                "a@zorgid.test", "jan@praktijk.test", RAW
            )

    assert failed.value.temporary


@pytest.mark.parametrize(
    ("recipient", "temporary", "reply"),
    [
        ("nobody@praktijk.test", False, "RCPT refused: 550 5.1.1"),
        ("refused@praktijk.test", False, "MAIL/DATA refused: 550 5.6.0 Refused."),
        ("busy@praktijk.test", True, "MAIL/DATA refused: 451 4.3.0"),
    ],
)
def test_5xx_is_permanent_and_4xx_temporary(
    relay: InboundServer, recipient: str, *, temporary: bool, reply: str
) -> None:
    with pytest.raises(MailDeliveryError) as failed:
        SmtpSender(relay.host, relay.port).send("a@zorgid.test", recipient, RAW)

    assert failed.value.temporary is temporary
    assert failed.value.detail.startswith(reply)


def test_starttls_to_a_relay_without_it_is_a_temporary_failure(
    mail_catcher: MailCatcher,
) -> None:
    sender = SmtpSender(mail_catcher.host, mail_catcher.port, starttls=True, password="geheim")  # noqa: S106 - a test password

    with pytest.raises(MailDeliveryError) as failed:
        sender.send("a@zorgid.test", "jan@praktijk.test", RAW)

    assert failed.value.temporary
    assert "geheim" not in repr(sender)
    assert mail_catcher.messages() == []
