"""The inbound mail server: SMTP (or LMTP behind the organisation's MTA) on aiosmtpd.

The protocol is aiosmtpd's; this module only decides the answers:

- RCPT TO an address the handler does not know: ``550 5.1.1`` with a text a person can act on
  (the sending MTA puts it in the bounce);
- end of DATA: the handler reads the message in a worker thread, so a slow verification never
  blocks the event loop; its refusal (a :class:`~zorgid.errors.ZorgidError`) becomes
  ``550 5.6.0`` with the English public message, a defect ``451 4.3.0`` (the sender retries);
- data over ``max_bytes``: aiosmtpd answers ``552``; the handler is told (``too_large``) so the
  service can mail the person a specific answer.

SIZE is deliberately not advertised in EHLO: a client that knew the limit would give up at
MAIL FROM, before naming the recipient, and the service could not tell whose reply was too
large. The transfer is still cut off at ``max_bytes`` (aiosmtpd discards the rest as it reads).

Over SMTP a transaction takes one recipient (others get ``452 4.5.3``, which clients answer by
sending them in a later transaction, RFC 5321 section 4.5.3.1.10), so every recipient gets its
own answer. Over LMTP there is one answer per recipient after DATA (RFC 2033 section 4.2).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, AnyStr, Protocol

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session, syntax

from zorgid.errors import ZorgidError
from zorgid.mail.errors import MEGABYTE
from zorgid.mail.listener import Listener, ListeningServer

if TYPE_CHECKING:
    from collections.abc import Sequence

log = logging.getLogger("zorgid.mail")

UNKNOWN_RECIPIENT = (
    "550 5.1.1 This address is unknown or no longer valid. Please reply to the address in "
    "the latest e-mail you received from us."
)
ONE_RECIPIENT = "452 4.5.3 One recipient per message: send to the others separately"
TEMPORARY_FAILURE = "451 4.3.0 Temporary failure, please try again later"
TOO_MUCH_DATA = "552"


class InboundHandler(Protocol):
    """What the service does with inbound mail (all methods run in a worker thread)."""

    def accepts_recipient(self, address: str) -> bool:
        """Whether ``address`` is a reply address still in use (asked at RCPT TO)."""
        ...

    def receive(self, recipient: str, envelope_from: str, raw: bytes) -> None:
        """Take one message for ``recipient``; raise a ZorgidError to refuse it."""
        ...

    def too_large(self, recipient: str) -> None:
        """A message for ``recipient`` exceeded the size limit and was refused."""
        ...


#: The greeting's text after the host name: neutral, naming neither library nor version.
BANNER = "ESMTP"


class _Smtp(SMTP):
    """aiosmtpd's SMTP, telling the hooks when DATA was refused for its size."""

    _last_reply = ""

    async def push(self, status: AnyStr) -> None:
        """Send a reply, remembering it."""
        reply = status if isinstance(status, str) else status.decode("ascii", "replace")
        self._last_reply = reply
        await super().push(status)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:  # noqa: N802 - aiosmtpd's command dispatch name
        """DATA, then tell the hooks about recipients of a message that was too large."""
        recipients = list(self.envelope.rcpt_tos) if self.envelope is not None else []
        await super().smtp_DATA(arg)
        # aiosmtpd has no hook for this: its "552 Error: Too much mail data" is the only sign.
        if recipients and self._last_reply.startswith(TOO_MUCH_DATA):
            await self.event_handler.data_too_large(recipients)


class _Lmtp(_Smtp, LMTP):
    """aiosmtpd's LMTP with the same size tracking."""


class _Hooks:
    """aiosmtpd's handler hooks, calling the service's :class:`InboundHandler` in threads."""

    def __init__(self, handler: InboundHandler, *, lmtp: bool) -> None:
        self.handler = handler
        self.lmtp = lmtp

    async def handle_EHLO(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        """Greet as aiosmtpd does, without advertising SIZE (see the module docstring)."""
        del server, envelope
        session.host_name = hostname
        return [reply for reply in responses if not reply[4:].upper().startswith("SIZE")]

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name and signature
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """Accept a recipient the service knows; one per transaction over SMTP."""
        del server, session
        if envelope.rcpt_tos and not self.lmtp:
            return ONE_RECIPIENT
        try:
            known = await asyncio.to_thread(self.handler.accepts_recipient, address)
        except Exception:
            log.exception("checking an inbound recipient failed")
            return TEMPORARY_FAILURE
        if not known:
            return UNKNOWN_RECIPIENT
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        """Hand the message to the service, once per recipient; one reply per recipient."""
        del server, session
        raw = envelope.original_content or b""
        sender = envelope.mail_from or ""
        replies = [await self._receive(recipient, sender, raw) for recipient in envelope.rcpt_tos]
        return "\r\n".join(replies)

    async def _receive(self, recipient: str, envelope_from: str, raw: bytes) -> str:
        try:
            await asyncio.to_thread(self.handler.receive, recipient, envelope_from, raw)
        except ZorgidError as error:
            log.info("inbound mail refused: %s (%s)", error.code, error.detail)
            return f"550 5.6.0 {_one_line(error.public_message('en'))}"
        except Exception:
            log.exception("handling inbound mail failed")
            return TEMPORARY_FAILURE
        return "250 2.0.0 OK"

    async def data_too_large(self, recipients: Sequence[str]) -> None:
        """Tell the service, per recipient, that a message was too large."""
        for recipient in recipients:
            try:
                await asyncio.to_thread(self.handler.too_large, recipient)
            except Exception:
                log.exception("answering a too large inbound mail failed")


def _one_line(text: str) -> str:
    # A reply line is ASCII without line breaks (RFC 5321 section 4.2); a message must not
    # be able to add reply lines of its own.
    return " ".join(text.split()).encode("ascii", "replace").decode("ascii")


class InboundServer(ListeningServer):
    """Receives mail over SMTP (or LMTP) for an :class:`InboundHandler`, in its own thread."""

    def __init__(
        self,
        host: str,
        port: int,
        handler: InboundHandler,
        *,
        lmtp: bool = False,
        max_bytes: int = MEGABYTE,
    ) -> None:
        self._listener = Listener(
            _Hooks(handler, lmtp=lmtp),
            host=host,
            port=port,
            smtp_class=_Lmtp if lmtp else _Smtp,
            data_size_limit=max_bytes,
            # aiosmtpd greets with "Python SMTP <version>": no need to tell who we are.
            ident=BANNER,
        )
