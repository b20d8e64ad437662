from __future__ import annotations

import threading

import pytest

from zorgid.mail.catcher import MailCatcher
from zorgid.mail.compose import Attachment, compose
from zorgid.mail.errors import MailUnknownError
from zorgid.mail.sender import SmtpSender


def _send(catcher: MailCatcher, subject: str, to: str = "jan@praktijk.test") -> None:
    message = compose(
        sender="ZORG-ID <noreply@zorgid.test>",
        recipient=to,
        subject=subject,
        text=f"Tekst van {subject}",
        reply_to="aanvraag@zorgid.test",
        attachments=[Attachment("a.xml", "application/xml", b"<a/>")],
        message_id_domain="zorgid.test",
    )
    SmtpSender(catcher.host, catcher.port).send("noreply@zorgid.test", to, message.as_bytes())


def test_every_message_is_kept_with_what_a_test_reads(mail_catcher: MailCatcher) -> None:
    _send(mail_catcher, "eerste")
    _send(mail_catcher, "tweede", to="piet@praktijk.test")

    first, second = mail_catcher.messages()
    assert (first.subject, second.subject) == ("eerste", "tweede")
    assert second.recipients == ("piet@praktijk.test",)
    assert second.text == "Tekst van tweede\n"
    assert second.attachments == (Attachment("a.xml", "application/xml", b"<a/>"),)
    assert second.header("Reply-To") == "aanvraag@zorgid.test"
    assert second.header("Cc") is None
    assert first.id != second.id
    assert mail_catcher.message(second.id) == second


def test_a_catcher_that_keeps_a_few_forgets_the_oldest_and_counts_them() -> None:
    catcher = MailCatcher(keep=2)
    catcher.start()
    try:
        for subject in ("een", "twee", "drie", "vier"):
            _send(catcher, subject)
        kept = [m.subject for m in catcher.messages()]
        dropped = catcher.dropped
    finally:
        catcher.stop()

    assert kept == ["drie", "vier"]
    assert dropped == 2


def test_wait_for_returns_a_message_that_arrives_later(mail_catcher: MailCatcher) -> None:
    _send(mail_catcher, "eerste")
    sending = threading.Thread(target=_send, args=(mail_catcher, "later"))
    sending.start()
    try:
        caught = mail_catcher.wait_for(lambda m: m.subject == "later")
    finally:
        sending.join()

    assert caught.subject == "later"


def test_wait_for_gives_up_after_its_timeout(mail_catcher: MailCatcher) -> None:
    with pytest.raises(TimeoutError, match="no matching message"):
        mail_catcher.wait_for(lambda m: m.subject == "never", timeout=0.01)


def test_clear_forgets_and_unknown_ids_are_refused(mail_catcher: MailCatcher) -> None:
    _send(mail_catcher, "weg")
    gone = mail_catcher.wait_for()

    mail_catcher.clear()

    assert mail_catcher.messages() == []
    with pytest.raises(MailUnknownError):
        mail_catcher.message(gone.id)


def test_unreadable_mail_is_kept_raw(mail_catcher: MailCatcher) -> None:
    SmtpSender(mail_catcher.host, mail_catcher.port).send(
        "a@zorgid.test", "jan@praktijk.test", b"no headers at all\r\n"
    )

    caught = mail_catcher.wait_for()
    assert caught.raw == b"no headers at all\r\n"
    assert caught.subject == ""
