"""QR login sessions (browser waits, app answers) and the portal sessions they end in."""

from __future__ import annotations

import datetime as dt  # noqa: TC003 - SQLAlchemy reads Mapped[] annotations at runtime
import enum

from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from zorgid.db.base import Base


class LoginState(enum.StrEnum):
    """Where a QR login is; see docs/protocol.md for the transitions."""

    PENDING = "pending"  # QR shown, not scanned
    SCANNED = "scanned"  # an app scanned it and shows the code
    CONFIRMED = "confirmed"  # the browser typed the right code; the app may answer
    APPROVED = "approved"  # the app approved with PIN and device signature
    COMPLETED = "completed"  # the browser took its portal session
    DECLINED = "declined"  # the person said no in the app
    FAILED = "failed"  # too many wrong codes, or the device was blocked


class LoginSession(Base):
    """One login attempt at the portal, shared by a browser and an app."""

    __tablename__ = "login_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    browser_hash: Mapped[str] = mapped_column(String(64))  # the browser's cookie, hashed
    nonce_hash: Mapped[str] = mapped_column(String(64))  # the QR's nonce, hashed
    challenge: Mapped[str] = mapped_column(String(64))
    code_hash: Mapped[str | None] = mapped_column(String(64))
    code_attempts: Mapped[int] = mapped_column(default=0)
    state: Mapped[LoginState] = mapped_column(
        Enum(
            LoginState,
            name="login_state",
            native_enum=False,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    device_id: Mapped[str | None] = mapped_column(ForeignKey("devices.id"))
    person_id: Mapped[str | None] = mapped_column(ForeignKey("persons.id"))
    client_ip: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)  # purge


class PortalSession(Base):
    """A logged-in browser; the cookie holds the token, the database only its hash."""

    __tablename__ = "portal_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id"), index=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)  # purge
    ended_at: Mapped[dt.datetime | None]
