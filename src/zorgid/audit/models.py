"""The audit log: append-only rows, each carrying the hash of the one before."""

from __future__ import annotations

import datetime as dt  # noqa: TC003 - SQLAlchemy reads Mapped[] annotations at runtime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from zorgid.db.base import Base


class AuditEvent(Base):
    """Who did what, when, from where; ``hash`` chains it to the event before."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime]
    action: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(64))  # person id, "device:<id>", "system", "cli"
    subject: Mapped[str] = mapped_column(String(128))  # what it is about (person/device/login id)
    source: Mapped[str] = mapped_column(String(64))  # IP address or "cli"
    details: Mapped[dict[str, object]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's last link: one row, locked while appending so the chain stays a line."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int]
    hash: Mapped[str] = mapped_column(String(64))
