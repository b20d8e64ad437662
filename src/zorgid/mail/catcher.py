"""A mail catcher: an SMTP server that keeps the messages it receives in memory.

Tests use it as the outgoing relay (and wait for a message instead of sleeping); the demo uses
it as "the organisation's mailbox", shown at ``/demo/post``. A catcher that runs for long (the
demo) keeps only the newest ``keep`` messages: every message sent since the start, kept, grew
a demo that a fuzzer had posted the public form to for hours to 700 MB.
"""

from __future__ import annotations

import email.policy
import secrets
import threading
from collections import deque
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from typing import TYPE_CHECKING

from zorgid.core.clock import SystemClock
from zorgid.mail.errors import InboundMailError, MailUnknownError
from zorgid.mail.inbound import InboundLimits, InboundMail, parse_inbound
from zorgid.mail.listener import Listener, ListeningServer

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable

    from aiosmtpd.smtp import SMTP, Envelope, Session

    from zorgid.core.clock import Clock
    from zorgid.mail.compose import Attachment

#: Our own outgoing mail is trusted to be sane; these limits only keep the catcher readable.
_READING = InboundLimits(
    max_bytes=64 * 1_048_576,
    max_parts=1000,
    max_depth=20,
    max_attachments_bytes=64 * 1_048_576,
    max_text_chars=1_000_000,
)

_UNREADABLE = InboundMail(message_id=None, sender="", subject="", text="", attachments=())


@dataclass(frozen=True)
class CaughtMessage:
    """One message as the catcher received it."""

    id: str
    received_at: dt.datetime
    envelope_from: str
    recipients: tuple[str, ...]
    raw: bytes
    subject: str
    text: str
    attachments: tuple[Attachment, ...]

    def header(self, name: str) -> str | None:
        """The decoded value of header ``name`` (None when absent)."""
        headers = BytesHeaderParser(policy=email.policy.default).parsebytes(self.raw)
        value = headers.get(name)
        return None if value is None else str(value)


class MailCatcher(ListeningServer):
    """An SMTP server on loopback that keeps what it receives (thread-safe)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: Clock | None = None,
        keep: int | None = None,
    ) -> None:
        """Listen on ``host``:``port``; with ``keep``, forget all but the newest ``keep``."""
        self._clock = clock or SystemClock()
        self._messages: deque[CaughtMessage] = deque(maxlen=keep)
        self._dropped = 0
        self._arrived = threading.Condition()
        self._listener = Listener(self, host=host, port=port)

    def messages(self) -> list[CaughtMessage]:
        """Every message kept, oldest first."""
        with self._arrived:
            return list(self._messages)

    @property
    def dropped(self) -> int:
        """How many of the oldest messages were forgotten to keep at most ``keep``."""
        with self._arrived:
            return self._dropped

    def message(self, message_id: str) -> CaughtMessage:
        """One message by its catcher id."""
        with self._arrived:
            for caught in self._messages:
                if caught.id == message_id:
                    return caught
        raise MailUnknownError(f"no caught message {message_id!r}")

    def wait_for(
        self,
        predicate: Callable[[CaughtMessage], bool] | None = None,
        timeout: float = 10.0,
    ) -> CaughtMessage:
        """The first message (caught already, or arriving within ``timeout``) that matches."""

        def first() -> CaughtMessage | None:
            return next((m for m in self._messages if predicate is None or predicate(m)), None)

        with self._arrived:
            found = self._arrived.wait_for(first, timeout)
        if found is None:
            msg = f"no matching message within {timeout} s ({len(self.messages())} caught)"
            raise TimeoutError(msg)
        return found

    def clear(self) -> None:
        """Forget every message caught so far."""
        with self._arrived:
            self._messages.clear()
            self._dropped = 0

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        """Keep the message and wake whoever waits for it."""
        del server, session
        caught = self._caught(envelope)
        with self._arrived:
            if len(self._messages) == self._messages.maxlen:
                self._dropped += 1
            self._messages.append(caught)
            self._arrived.notify_all()
        return "250 2.0.0 OK"

    def _caught(self, envelope: Envelope) -> CaughtMessage:
        raw = envelope.original_content or b""
        try:
            mail = parse_inbound(raw, _READING)
        except InboundMailError:
            # Keep what cannot be read too: the raw bytes are what a test wants to see.
            mail = _UNREADABLE
        return CaughtMessage(
            id=secrets.token_hex(5),
            received_at=self._clock.now(),
            envelope_from=envelope.mail_from or "",
            recipients=tuple(envelope.rcpt_tos),
            raw=raw,
            subject=mail.subject,
            text=mail.text,
            attachments=mail.attachments,
        )
