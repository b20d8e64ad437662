"""The transactional outbox: every e-mail the service sends, written with its state change."""

from __future__ import annotations

import datetime as dt  # noqa: TC003 - SQLAlchemy reads Mapped[] annotations at runtime
import enum

from sqlalchemy import Date, Enum, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from zorgid.db.base import Base

#: The key in ``Session.info`` that says a transaction queued mail (the composition root then
#: wakes the outbox worker after the commit).
MAIL_QUEUED = "zorgid.mail_queued"


class OutboxState(enum.StrEnum):
    """Pending until the SMTP server took it; failed after the last retry."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class OutboxMessage(Base):
    """One complete RFC 5322 message waiting for, or past, delivery."""

    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_due", "state", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: The Message-ID header: the idempotency key a receiving server can deduplicate on.
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    sender: Mapped[str] = mapped_column(String(320))
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    #: What the message belongs to, e.g. ``registration:<id>`` (for timelines).
    topic: Mapped[str | None] = mapped_column(String(64), index=True)
    state: Mapped[OutboxState] = mapped_column(
        Enum(
            OutboxState,
            name="outbox_state",
            native_enum=False,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime]
    #: A worker that claimed the message owns it until then (a crashed worker's claim lapses).
    claimed_until: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))


class MailQuota(Base):
    """How many e-mails one recipient (or one other key, such as a URA) was sent on one day."""

    __tablename__ = "mail_quota"

    #: ``<kind>:`` and the SHA-256 of the key (an address is not kept here in clear).
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    #: The day (UTC) counted.
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    count: Mapped[int]
