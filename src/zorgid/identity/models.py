"""People, organisations, memberships with roles, devices and one-time activation codes."""

from __future__ import annotations

import datetime as dt  # noqa: TC003 - SQLAlchemy reads Mapped[] annotations at runtime
import enum

from sqlalchemy import Enum, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from zorgid.db.base import Base


class Role(enum.StrEnum):
    """What a person may do: for the service (operator) or for one organisation."""

    OPERATOR = "operator"
    ADMINISTRATOR = "administrator"
    BEHEERDER = "beheerder"
    GEBRUIKER = "gebruiker"


class DeviceStatus(enum.StrEnum):
    """A device can log in only while active; blocked and revoked need a new activation."""

    ACTIVE = "active"
    BLOCKED = "blocked"  # too many wrong PINs
    REVOKED = "revoked"  # by the person, a beheerder or the operator


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    # Stored as plain strings with a CHECK, the same on SQLite and PostgreSQL.
    return Enum(cls, name=name, native_enum=False, values_callable=lambda e: [m.value for m in e])


class Person(Base):
    """Someone with (eventually) a mobile ID."""

    __tablename__ = "persons"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    created_at: Mapped[dt.datetime]

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="person", lazy="selectin", order_by="Membership.id"
    )


class Organisation(Base):
    """A care organisation, known by its URA number."""

    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    ura: Mapped[str] = mapped_column(String(8), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime]


class Membership(Base):
    """A role of a person; for an organisation, or (operator) for the service itself."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("person_id", "organisation_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id"), index=True)
    organisation_id: Mapped[str | None] = mapped_column(ForeignKey("organisations.id"))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    created_at: Mapped[dt.datetime]

    person: Mapped[Person] = relationship(back_populates="memberships")
    organisation: Mapped[Organisation | None] = relationship(lazy="joined")


class Device(Base):
    """An app instance: its P-256 public key, its PIN material and its attempt counter."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id"), index=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # SubjectPublicKeyInfo, DER
    label: Mapped[str] = mapped_column(String(100))
    pin_salt: Mapped[bytes] = mapped_column(LargeBinary)
    pin_mac: Mapped[bytes] = mapped_column(LargeBinary)  # HMAC with a key outside the database
    pin_failures: Mapped[int] = mapped_column(default=0)
    pin_next_try_at: Mapped[dt.datetime | None]
    status: Mapped[DeviceStatus] = mapped_column(_enum(DeviceStatus, "device_status"))
    created_at: Mapped[dt.datetime]
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class ActivationCode(Base):
    """A one-time code behind an activation QR, bound to one person; kept only as a hash."""

    __tablename__ = "activation_codes"
    __table_args__ = (Index("ix_activation_codes_person", "person_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id"))
    nonce_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)  # purge
    used_at: Mapped[dt.datetime | None]
    failed_attempts: Mapped[int] = mapped_column(default=0)
    device_id: Mapped[str | None] = mapped_column(ForeignKey("devices.id"))
