"""The transactional outbox: e-mail is written with the state change, and sent afterwards.

Guarantees (security.md, "E-mail"):

- **Written with the state change.** :meth:`Outbox.enqueue` adds the message to the caller's
  session and only flushes: it commits or rolls back with the caller's transaction. A request
  that is rolled back sends no mail; a committed one always has its mail.
- **Nothing lost.** A message stays ``pending`` until the relay has accepted it. A worker that
  dies (or whose relay dies) after claiming a message leaves a claim that lapses after
  ``lease``; any worker then picks the message up again. Failures are retried with exponential
  backoff (``first_retry`` doubling up to ``max_retry``) until ``max_attempts``; a permanent
  refusal (5xx) fails the message at once. Failed messages stay in the table, visible in
  timelines with their last error.
- **Nothing sent twice by two workers.** A worker owns a message only after an atomic
  conditional UPDATE (``state = 'pending'`` and no live claim) changed exactly that one row;
  this holds across threads and processes on SQLite (one writer at a time) and PostgreSQL
  (the second UPDATE re-checks the row after the first commits and matches nothing).
- **The one unavoidable window.** The relay can accept a message and the process die before
  the "sent" mark commits; the claim then lapses and the message is sent again. No protocol
  closes this window (SMTP has no two-phase commit), so it is kept short: nothing but the QUIT
  round trip lies between the relay's answer to DATA and the commit of the mark, and the relay
  connection is never held inside a database transaction. Every attempt sends the *same
  bytes*, so the same ``Message-ID``: receiving systems (and people's mail programs) recognise
  the copy and can drop it; a service reading its own replies deduplicates on it as well.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from email.utils import getaddresses
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import or_, select, update

from zorgid.core.tokens import new_id
from zorgid.db.base import table
from zorgid.mail.errors import MailDeliveryError, MailHeaderError, MailUnknownError
from zorgid.mail.models import MAIL_QUEUED, OutboxMessage, OutboxState

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager
    from email.message import EmailMessage

    from sqlalchemy import ColumnElement
    from sqlalchemy.orm import Session

    from zorgid.core.clock import Clock

log = logging.getLogger("zorgid.mail")

_OUTBOX = table(OutboxMessage)
_SUBJECT_CHARS = 300
_ERROR_CHARS = 500
#: Backoff doubles per attempt; past this many doublings every delay is max_retry anyway.
_MAX_DOUBLINGS = 30


@dataclass(frozen=True)
class OutboxView:
    """What a timeline shows of one outgoing e-mail."""

    id: str
    message_id: str
    recipient: str
    subject: str
    state: OutboxState
    attempts: int
    created_at: dt.datetime
    sent_at: dt.datetime | None
    last_error: str | None


class Outbox:
    """Writing e-mail into the caller's transaction, and reading it back for timelines."""

    def __init__(self, session: Session, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    def enqueue(self, message: EmailMessage, *, topic: str | None = None) -> str:
        """Add ``message`` to the outbox in the caller's transaction; return its outbox id."""
        message_id = message["Message-ID"]
        if not message_id:
            raise MailHeaderError("message has no Message-ID")
        now = self.clock.now()
        row = OutboxMessage(
            id=new_id(),
            message_id=str(message_id).strip(),
            sender=_one_address(message, "From"),
            recipient=_one_address(message, "To"),
            subject=str(message["Subject"] or "")[:_SUBJECT_CHARS],
            raw=message.as_bytes(),
            topic=topic,
            state=OutboxState.PENDING,
            attempts=0,
            next_attempt_at=now,
            claimed_until=None,
            created_at=now,
            sent_at=None,
            last_error=None,
        )
        self.session.add(row)
        self.session.flush()
        self.session.info[MAIL_QUEUED] = True  # the composition root wakes the worker on commit
        return row.id

    def for_topic(self, topic: str) -> list[OutboxView]:
        """The messages of ``topic``, oldest first."""
        rows = self.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.topic == topic)
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
        )
        return [_view(row) for row in rows]

    def message(self, outbox_id: str) -> OutboxView:
        """One message by its outbox id."""
        row = self.session.get(OutboxMessage, outbox_id)
        if row is None:
            raise MailUnknownError(f"no outbox message {outbox_id!r}")
        return _view(row)


def _one_address(message: EmailMessage, name: str) -> str:
    addresses = [address for _, address in getaddresses([str(message[name] or "")])]
    if len(addresses) != 1 or "@" not in addresses[0]:
        raise MailHeaderError(f"{name} must hold exactly one address")
    return addresses[0]


def _view(row: OutboxMessage) -> OutboxView:
    return OutboxView(
        id=row.id,
        message_id=row.message_id,
        recipient=row.recipient,
        subject=row.subject,
        state=row.state,
        attempts=row.attempts,
        created_at=row.created_at,
        sent_at=row.sent_at,
        last_error=row.last_error,
    )


class Sender(Protocol):
    """Hands one message to a relay (:class:`~zorgid.mail.sender.SmtpSender`)."""

    def send(self, envelope_from: str, recipient: str, raw: bytes) -> None:
        """Deliver ``raw`` or raise :class:`MailDeliveryError`."""
        ...


@dataclass(frozen=True)
class DeliveryCounts:
    """What one round of delivery did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0

    def __add__(self, other: DeliveryCounts) -> DeliveryCounts:
        return DeliveryCounts(
            self.sent + other.sent, self.retried + other.retried, self.failed + other.failed
        )


@dataclass(frozen=True)
class _Claim:
    id: str
    message_id: str
    sender: str
    recipient: str
    raw: bytes
    attempts: int
    claimed_until: dt.datetime


class OutboxWorker:
    """Delivers due outbox messages: claim, send outside any transaction, record the outcome."""

    def __init__(  # noqa: PLR0913 - collaborators and tunables, all keyword-only
        self,
        *,
        unit_of_work: Callable[[], AbstractContextManager[Session]],
        clock: Clock,
        reading: Callable[[], AbstractContextManager[Session]] | None = None,
        sender: Sender,
        max_attempts: int = 8,
        first_retry: dt.timedelta = dt.timedelta(seconds=30),
        max_retry: dt.timedelta = dt.timedelta(hours=1),
        lease: dt.timedelta = dt.timedelta(minutes=5),
        batch: int = 20,
    ) -> None:
        self.unit_of_work = unit_of_work
        #: Looking for due mail only reads: on SQLite it then does not queue for the write lock.
        self.reading = reading or unit_of_work
        self.clock = clock
        self.sender = sender
        self.max_attempts = max_attempts
        self.first_retry = first_retry
        self.max_retry = max_retry
        self.lease = lease
        self.batch = batch
        self._wake = threading.Event()

    def wake(self) -> None:
        """Nudge :meth:`run` to look for due messages now (call after enqueueing)."""
        self._wake.set()

    def run(
        self, stop: threading.Event, poll_seconds: float = 1.0, wake: threading.Event | None = None
    ) -> None:
        """Deliver until ``stop`` is set; ``wake`` (else :meth:`wake`) cuts a poll wait short."""
        if wake is not None:
            # One event for both: wake() keeps working for callers holding the worker.
            self._wake = wake
        log.info("outbox worker started")
        while not stop.is_set():
            # Cleared before looking, so a nudge that arrives during delivery is not lost.
            self._wake.clear()
            full = False
            try:
                counts = self.deliver_due()
            except Exception:
                # A database hiccup must not end the worker: the messages wait in the table.
                log.exception("outbox delivery round failed")
            else:
                full = counts.sent + counts.retried + counts.failed >= self.batch
            if not full and not stop.is_set():
                self._wake.wait(poll_seconds)
        log.info("outbox worker stopped")

    def deliver_due(self) -> DeliveryCounts:
        """Deliver up to ``batch`` due messages, each claimed on its own."""
        counts = DeliveryCounts()
        for outbox_id in self._due():
            claim = self._claim(outbox_id)
            if claim is not None:
                counts += self._deliver(claim)
        return counts

    def _due(self) -> list[str]:
        now = self.clock.now()
        with self.reading() as session:
            return list(
                session.scalars(
                    select(_OUTBOX.c.id)
                    .where(_is_claimable(now))
                    .order_by(_OUTBOX.c.next_attempt_at)
                    .limit(self.batch)
                )
            )

    def _claim(self, outbox_id: str) -> _Claim | None:
        now = self.clock.now()
        until = now + self.lease
        with self.unit_of_work() as session:
            result = session.connection().execute(
                update(_OUTBOX)
                .where(_OUTBOX.c.id == outbox_id, _is_claimable(now))
                .values(claimed_until=until)
            )
            if result.rowcount != 1:
                return None  # another worker was first
            row = session.execute(
                select(
                    _OUTBOX.c.message_id,
                    _OUTBOX.c.sender,
                    _OUTBOX.c.recipient,
                    _OUTBOX.c.raw,
                    _OUTBOX.c.attempts,
                ).where(_OUTBOX.c.id == outbox_id)
            ).one()
        return _Claim(outbox_id, *row, claimed_until=until)

    def _deliver(self, claim: _Claim) -> DeliveryCounts:
        try:
            self.sender.send(claim.sender, claim.recipient, claim.raw)
        except MailDeliveryError as error:
            return self._record_failure(claim, error.detail, temporary=error.temporary)
        except Exception as error:
            # A defect in a sender is not the message's fault: keep it for a later attempt.
            log.exception("outbox sender raised unexpectedly (message %s)", claim.id)
            return self._record_failure(claim, repr(error), temporary=True)
        self._record_sent(claim)
        return DeliveryCounts(sent=1)

    def _record_sent(self, claim: _Claim) -> None:
        now = self.clock.now()
        with self.unit_of_work() as session:
            # Not conditional on the claim: had it lapsed and another worker sent it too, it is
            # still true that it was sent.
            session.connection().execute(
                update(_OUTBOX)
                .where(_OUTBOX.c.id == claim.id, _OUTBOX.c.state == OutboxState.PENDING)
                .values(
                    state=OutboxState.SENT,
                    sent_at=now,
                    attempts=claim.attempts + 1,
                    claimed_until=None,
                )
            )
        log.info("mail %s sent (%s)", claim.id, claim.message_id)

    def _record_failure(self, claim: _Claim, error: str, *, temporary: bool) -> DeliveryCounts:
        now = self.clock.now()
        attempts = claim.attempts + 1
        give_up = not temporary or attempts >= self.max_attempts
        values: dict[str, object] = {
            "attempts": attempts,
            "claimed_until": None,
            "last_error": error[:_ERROR_CHARS],
        }
        if give_up:
            values["state"] = OutboxState.FAILED
        else:
            values["next_attempt_at"] = now + self._backoff(attempts)
        with self.unit_of_work() as session:
            # Only while the claim is still ours: after a lapse another worker owns the row.
            session.connection().execute(
                update(_OUTBOX)
                .where(
                    _OUTBOX.c.id == claim.id,
                    _OUTBOX.c.state == OutboxState.PENDING,
                    _OUTBOX.c.claimed_until == claim.claimed_until,
                )
                .values(**values)
            )
        if give_up:
            log.warning("mail %s failed after %d attempts: %s", claim.id, attempts, error)
            return DeliveryCounts(failed=1)
        log.info("mail %s not delivered (attempt %d), will retry: %s", claim.id, attempts, error)
        return DeliveryCounts(retried=1)

    def _backoff(self, attempts: int) -> dt.timedelta:
        """The wait after the ``attempts``-th failure: first_retry, doubling, up to max_retry."""
        delay: dt.timedelta = self.first_retry * 2 ** min(attempts - 1, _MAX_DOUBLINGS)
        return min(self.max_retry, delay)


def _is_claimable(now: dt.datetime) -> ColumnElement[bool]:
    return (
        (_OUTBOX.c.state == OutboxState.PENDING)
        & (_OUTBOX.c.next_attempt_at <= now)
        & or_(_OUTBOX.c.claimed_until.is_(None), _OUTBOX.c.claimed_until < now)
    )
