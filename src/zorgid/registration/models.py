"""Registration requests of care organisations (flow 1b) and their timelines."""

from __future__ import annotations

import datetime as dt  # noqa: TC003 - SQLAlchemy reads Mapped[] annotations at runtime
from typing import Any

from sqlalchemy import JSON, Date, Enum, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from zorgid.db.base import Base
from zorgid.registration.states import RegistrationState


class RegistrationRequest(Base):
    """One organisation's request, from the application form to the first portal login."""

    __tablename__ = "registration_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: The request number people see and the document carries (ZID-2026-123456).
    number: Mapped[str] = mapped_column(String(20), unique=True)
    state: Mapped[RegistrationState] = mapped_column(
        Enum(
            RegistrationState,
            name="registration_state",
            native_enum=False,
            values_callable=lambda e: [m.value for m in e],
        ),
        index=True,
    )
    #: The language the technical administrator used; mails to the organisation follow it.
    language: Mapped[str] = mapped_column(String(5))
    ura: Mapped[str] = mapped_column(String(8))
    organisation_name: Mapped[str] = mapped_column(String(200))
    technical_name: Mapped[str] = mapped_column(String(200))
    technical_email: Mapped[str] = mapped_column(String(320))
    admin_name: Mapped[str] = mapped_column(String(200))
    admin_email: Mapped[str] = mapped_column(String(320))
    applications: Mapped[list[str]] = mapped_column(JSON)
    #: SHA-256 of the token in the reply address and the upload link (the secret is only mailed).
    reply_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: SHA-256 of the token in the portal administrator's link.
    details_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: SHA-256 of the challenge in the prefilled document; single use.
    challenge_hash: Mapped[str | None] = mapped_column(String(64))
    challenge_used_at: Mapped[dt.datetime | None]
    #: When a waiting state expires (None in states that do not wait on the organisation).
    deadline_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    admin_email_confirmed_at: Mapped[dt.datetime | None]
    admin_full_name: Mapped[str | None] = mapped_column(String(200))
    admin_birth_date: Mapped[dt.date | None] = mapped_column(Date)
    admin_phone: Mapped[str | None] = mapped_column(String(32))
    #: The accepted signed document, exactly as verified (canonical signed bytes).
    signed_document: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: The verification report of the accepted document.
    verification: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    organisation_id: Mapped[str | None] = mapped_column(ForeignKey("organisations.id"))
    admin_person_id: Mapped[str | None] = mapped_column(ForeignKey("persons.id"), index=True)
    #: The operator's reason for a rejection, as told to the organisation.
    reason: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class RegistrationEvent(Base):
    """One line of a request's timeline: a transition, a mail in or out, a refusal."""

    __tablename__ = "registration_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("registration_requests.id"), index=True)
    at: Mapped[dt.datetime]
    kind: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str | None] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)


class UsedProofOfWork(Base):
    """A solved proof-of-work challenge of the public form, kept until it expires: single use."""

    __tablename__ = "proof_of_work_used"

    #: The challenge's nonce (random, covered by the challenge's signature).
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
