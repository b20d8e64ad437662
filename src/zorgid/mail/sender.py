"""Handing a message to the organisation's SMTP relay (smtplib).

A failure is *temporary* (try again later) or *permanent* (give up on this message):

- reaching, securing or logging in to the relay fails (refused, timeout, TLS, credentials):
  temporary, because it says nothing about the message and an operator can fix it;
- the relay answers MAIL, RCPT or DATA with 4xx: temporary; with 5xx: permanent (RFC 5321
  section 4.2.1), because sending the same message again gets the same answer.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl

from zorgid.mail.errors import MailDeliveryError

_PERMANENT = 500


class SmtpSender:
    """Sends one message to one recipient through an SMTP relay."""

    def __init__(  # noqa: PLR0913 - the relay's connection settings
        self,
        host: str,
        port: int,
        *,
        timeout: float = 10.0,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.starttls = starttls
        self._username = username
        self._password = password

    def __repr__(self) -> str:
        # Never the password: senders end up in logs and tracebacks.
        return f"SmtpSender({self.host!r}, {self.port}, starttls={self.starttls})"

    def send(self, envelope_from: str, recipient: str, raw: bytes) -> None:
        """Deliver ``raw`` to ``recipient``, or raise :class:`MailDeliveryError`."""
        smtp = self._connect()
        try:
            self._transfer(smtp, envelope_from, recipient, raw)
        finally:
            # The relay has answered DATA by now: a failing QUIT must not turn a delivered
            # message into a retry (it would be sent twice).
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.quit()
            smtp.close()

    def _connect(self) -> smtplib.SMTP:
        try:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except (OSError, smtplib.SMTPException) as error:
            raise MailDeliveryError(
                f"cannot reach {self.host}:{self.port}: {error!r}", temporary=True
            ) from error
        try:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self._username is not None:
                smtp.login(self._username, self._password or "")
        except (OSError, smtplib.SMTPException) as error:
            smtp.close()
            # Not the exception's repr alone: an AUTH failure echoes no secret, but say what
            # step failed so an operator knows where to look.
            raise MailDeliveryError(
                f"TLS or login at {self.host}:{self.port} failed: {error!r}", temporary=True
            ) from error
        return smtp

    def _transfer(self, smtp: smtplib.SMTP, envelope_from: str, recipient: str, raw: bytes) -> None:
        try:
            smtp.sendmail(envelope_from, [recipient], raw)
        except smtplib.SMTPRecipientsRefused as error:
            code, reply = next(iter(error.recipients.values()))
            raise _refused(code, reply, "RCPT") from error
        except smtplib.SMTPResponseException as error:
            raise _refused(error.smtp_code, error.smtp_error, "MAIL/DATA") from error
        except (OSError, smtplib.SMTPException) as error:
            raise MailDeliveryError(
                f"connection to {self.host}:{self.port} lost: {error!r}", temporary=True
            ) from error


def _refused(code: int, reply: bytes | str, step: str) -> MailDeliveryError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return MailDeliveryError(f"{step} refused: {code} {text}", temporary=code < _PERMANENT)
