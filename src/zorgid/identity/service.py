"""People, their roles, activation codes, devices and PIN checks.

The caller owns the transaction: it commits on success, and on a :class:`ZorgidError` commits
only when the error ``keeps_changes`` (an attempt counted, a device blocked) and rolls back
otherwise.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update

from zorgid.core.i18n import N_
from zorgid.core.protocol import activation_string, status_string
from zorgid.core.tokens import hash_token, new_id, new_token, same_token
from zorgid.db.raw import SessionTx, drive
from zorgid.identity.devicekeys import (
    b64decode,
    load_device_key,
    verify_device_signature,
)
from zorgid.identity.devices import (
    MAX_ID_LENGTH,
    PinPolicy,
    Profile,
    check_pin,
    read_device,
    read_profile,
    refuse_unusable,
)
from zorgid.identity.errors import (
    ActivationError,
    ActivationExpiredError,
    ActivationLockedError,
    ActivationUnknownError,
    ActivationUsedError,
    BadRequestError,
    DeviceUnknownError,
    PersonExistsError,
    PersonInvalidError,
    PersonUnknownError,
)
from zorgid.identity.models import (
    ActivationCode,
    Device,
    DeviceStatus,
    Membership,
    Organisation,
    Person,
    Role,
)
from zorgid.identity.pin import check_pin_format, pin_mac

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from zorgid.audit.log import AuditLog
    from zorgid.core.clock import Clock
    from zorgid.settings import Settings

_EMAIL = re.compile(r"[^@\s<>\"',;]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")
_BAD_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069<>]")
STATUS_WINDOW = dt.timedelta(minutes=2)
MAX_NAME = 200
MAX_EMAIL = 320


@dataclass(frozen=True)
class IssuedActivation:
    """A new one-time activation code; ``qr_text`` is what goes in the QR code."""

    activation_id: str
    person_name: str
    expires_at: dt.datetime
    qr_text: str


class IdentityService:
    """Operations on people and devices, in one database session."""

    def __init__(
        self,
        *,
        session: Session,
        clock: Clock,
        settings: Settings,
        pin_key: bytes,
        audit: AuditLog,
    ) -> None:
        self._session = session
        self._clock = clock
        self._settings = settings
        self._pin_key = pin_key
        self._audit = audit

    # -- people and roles -------------------------------------------------------------------

    def add_person(self, *, name: str, email: str, actor: str, source: str) -> Person:
        """Register a person by name and e-mail address."""
        name = " ".join(name.split())
        email = email.strip()
        if not name or len(name) > MAX_NAME or _BAD_NAME_CHARS.search(name):
            raise PersonInvalidError(
                "bad name", reason=N_("give the full name, in plain letters (at most 200).")
            )
        if not _EMAIL.fullmatch(email) or len(email) > MAX_EMAIL:
            raise PersonInvalidError(
                "bad e-mail", reason=N_("give a valid e-mail address, such as naam@praktijk.nl.")
            )
        email = email.lower()
        if self._session.scalar(select(Person.id).where(Person.email == email)) is not None:
            raise PersonExistsError(email=email)
        person = Person(id=new_id(), name=name, email=email, created_at=self._clock.now())
        self._session.add(person)
        self._session.flush()
        self._audit.record(
            "person.created", actor=actor, subject=f"person:{person.id}", source=source
        )
        return person

    def person_by_email(self, email: str) -> Person:
        """The person registered with ``email``, or :class:`PersonUnknownError`."""
        person = self._session.scalar(select(Person).where(Person.email == email.strip().lower()))
        if person is None:
            raise PersonUnknownError(email=email)
        return person

    def grant(
        self,
        person: Person,
        role: Role,
        *,
        organisation: Organisation | None,
        actor: str,
        source: str,
    ) -> Membership:
        """Give ``person`` a role (for ``organisation``, or for the service when operator)."""
        membership = Membership(
            person=person,
            organisation=organisation,
            role=role,
            created_at=self._clock.now(),
        )
        self._session.add(membership)
        self._session.flush()
        self._audit.record(
            "membership.granted",
            actor=actor,
            subject=f"person:{person.id}",
            source=source,
            details={"role": role.value, "ura": organisation.ura if organisation else None},
        )
        return membership

    # -- activation -------------------------------------------------------------------------

    def add_operator(
        self, *, name: str, email: str, actor: str, source: str
    ) -> tuple[Person, IssuedActivation]:
        """A new operator of the service, with the one-time code that activates their app."""
        person = self.add_person(name=name, email=email, actor=actor, source=source)
        self.grant(person, Role.OPERATOR, organisation=None, actor=actor, source=source)
        return person, self.issue_activation(person, actor=actor, source=source)

    def issue_activation(
        self, person: Person, *, actor: str, source: str, ttl: dt.timedelta | None = None
    ) -> IssuedActivation:
        """A new one-time activation code for ``person``; only its hash is kept.

        ``ttl`` overrides the default lifetime (a code sent by e-mail needs longer than one
        handed over in person).
        """
        now = self._clock.now()
        lifetime = ttl or dt.timedelta(minutes=self._settings.activation_ttl_minutes)
        nonce = new_token()
        code = ActivationCode(
            id=new_id(),
            person_id=person.id,
            nonce_hash=hash_token(nonce),
            created_at=now,
            expires_at=now + lifetime,
            failed_attempts=0,
        )
        self._session.add(code)
        self._session.flush()
        self._audit.record(
            "activation.issued",
            actor=actor,
            subject=f"person:{person.id}",
            source=source,
            details={"activation": code.id, "expires_at": code.expires_at.isoformat()},
        )
        return IssuedActivation(
            activation_id=code.id,
            person_name=person.name,
            expires_at=code.expires_at,
            qr_text=f"{self._settings.public_url}/app/activeer/{code.id}#{nonce}",
        )

    def withdraw_activations(self, person: Person, *, actor: str, source: str) -> int:
        """End every unused activation code of ``person`` (a newer one replaces them); how many."""
        now = self._clock.now()
        codes = self._session.scalars(
            select(ActivationCode)
            .where(
                ActivationCode.person_id == person.id,
                ActivationCode.used_at.is_(None),
                ActivationCode.expires_at > now,
            )
            .with_for_update()
        ).all()
        for code in codes:
            code.expires_at = now
            self._audit.record(
                "activation.withdrawn",
                actor=actor,
                subject=f"person:{person.id}",
                source=source,
                details={"activation": code.id},
            )
        return len(codes)

    def redeem_activation(  # noqa: PLR0913 - the fields of the protocol message
        self,
        activation_id: str,
        *,
        nonce: str,
        public_key: str,
        pin: str,
        label: str,
        signature: str,
        source: str,
    ) -> Device:
        """Register a device for the code's person: exactly once per code, even under races."""
        check_pin_format(pin)
        key_der = b64decode(public_key, field="public_key")
        key = load_device_key(key_der)
        verify_device_signature(key, signature, activation_string(activation_id, nonce))
        label = " ".join(label.split())[:100] or "app"
        now = self._clock.now()
        code = self._session.get(ActivationCode, activation_id, with_for_update=True)
        if code is None:
            raise ActivationUnknownError("no such activation code")
        tries = self._settings.activation_nonce_tries
        if code.failed_attempts >= tries:
            # Locked: refused before its nonce is judged, so the answer is the same whatever
            # the nonce, and nothing is counted or audited any more (the locking try was).
            raise ActivationLockedError("locked code")
        if not same_token(nonce, code.nonce_hash):
            code.failed_attempts += 1
            details: dict[str, object] = {"activation": code.id, "reason": "wrong nonce"}
            if code.failed_attempts >= tries:
                details["locked"] = True
            self._audit.record(
                "activation.refused",
                actor="anonymous",
                subject=f"person:{code.person_id}",
                source=source,
                details=details,
            )
            raise ActivationUnknownError("wrong nonce")
        # The conditional UPDATE is the single point where a code is used: of N concurrent
        # redemptions exactly one sees rowcount 1 (row lock on PostgreSQL, the write lock on
        # SQLite), whatever each of them read before.
        won = self._session.execute(
            update(ActivationCode)
            .where(
                ActivationCode.id == activation_id,
                ActivationCode.used_at.is_(None),
                ActivationCode.expires_at > now,
                ActivationCode.failed_attempts < tries,
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        if won.rowcount != 1:  # type: ignore[attr-defined]  # a CursorResult (an UPDATE)
            self._session.refresh(code)
            refusal: ActivationError
            if code.used_at is not None:
                refusal = ActivationUsedError()
            elif code.failed_attempts >= tries:
                refusal = ActivationLockedError()
            else:
                refusal = ActivationExpiredError()
            # Every use of a code is audited, refused ones too (the error keeps this change).
            self._audit.record(
                "activation.refused",
                actor="anonymous",
                subject=f"person:{code.person_id}",
                source=source,
                details={"activation": code.id, "reason": refusal.code},
            )
            raise refusal
        device_id = new_id()
        salt = secrets.token_bytes(16)
        device = Device(
            id=device_id,
            person_id=code.person_id,
            public_key=key_der,
            label=label,
            pin_salt=salt,
            pin_mac=pin_mac(self._pin_key, device_id, salt, pin),
            pin_failures=0,
            status=DeviceStatus.ACTIVE,
            created_at=now,
        )
        self._session.add(device)
        self._session.flush()
        self._session.execute(
            update(ActivationCode)
            .where(ActivationCode.id == activation_id)
            .values(device_id=device_id)
            .execution_options(synchronize_session=False)
        )
        self._audit.record(
            "activation.redeemed",
            actor=f"device:{device_id}",
            subject=f"person:{code.person_id}",
            source=source,
            details={"activation": code.id, "device": device_id},
        )
        return device

    # -- devices and PIN --------------------------------------------------------------------

    def device(self, device_id: str, *, usable: bool = True) -> Device:
        """The device, refusing unknown ones and (when ``usable``) blocked or revoked ones."""
        device = self._session.get(Device, device_id) if len(device_id) <= MAX_ID_LENGTH else None
        if device is None:
            raise DeviceUnknownError
        if usable:
            refuse_unusable(device.status)
        return device

    def device_status(self, device_id: str, *, timestamp: str, signature: str) -> Device:
        """The device as the app asks for it, proven by a fresh signed timestamp."""
        device = self.device(device_id, usable=False)
        try:
            moment = dt.datetime.fromisoformat(timestamp)
        except ValueError:
            raise BadRequestError(
                "bad timestamp", reason=N_("the timestamp is not an ISO 8601 time.")
            ) from None
        if moment.tzinfo is None or abs(moment - self._clock.now()) > STATUS_WINDOW:
            raise BadRequestError(
                "stale timestamp", reason=N_("the phone's clock is off by more than 2 minutes.")
            )
        verify_device_signature(
            load_device_key(device.public_key),
            signature,
            status_string(device_id, timestamp),
        )
        return device

    def check_pin(self, device_id: str, pin: str, *, source: str) -> None:
        """Check the PIN of a device in this unit of work (see :func:`devices.check_pin`)."""
        tx = SessionTx(self._session)
        drive(
            check_pin(
                tx,
                drive(read_device(tx, device_id)),
                pin,
                policy=PinPolicy.of(self._settings, self._pin_key),
                now=self._clock.now(),
                source=source,
                audit_key=self._audit.key,
            )
        )

    def purge(self, *, before: dt.datetime) -> int:
        """Delete activation codes that expired before ``before``; how many."""
        result = self._session.execute(
            delete(ActivationCode).where(ActivationCode.expires_at < before)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]  # a CursorResult (a DELETE)

    def revoke_devices_of(self, person: Person, *, actor: str, source: str) -> int:
        """Switch off every active device of ``person`` (a lost or stolen phone); how many."""
        devices = self._session.scalars(
            select(Device).where(
                Device.person_id == person.id, Device.status == DeviceStatus.ACTIVE
            )
        ).all()
        for device in devices:
            self.revoke_device(device, actor=actor, source=source)
        return len(devices)

    def revoke_device(self, device: Device, *, actor: str, source: str) -> None:
        """Switch a device off; the app is told to wipe itself at its next contact."""
        if device.status is DeviceStatus.REVOKED:
            return
        device.status = DeviceStatus.REVOKED
        device.revoked_at = self._clock.now()
        self._audit.record(
            "device.revoked", actor=actor, subject=f"device:{device.id}", source=source
        )

    def profile(self, person_id: str) -> Profile:
        """A person's name and roles, in one query."""
        return drive(read_profile(SessionTx(self._session), person_id))
