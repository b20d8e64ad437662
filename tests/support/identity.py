"""Helpers for identity tests: an app's device key, and people with activated devices."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from zorgid.audit.models import AuditEvent
from zorgid.core.protocol import b64url
from zorgid.identity.errors import ActivationUnknownError, PinWrongError
from zorgid.identity.models import Role

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from zorgid.bootstrap import Container
    from zorgid.db.base import Base
    from zorgid.identity.models import Device

PIN = "24680"
SOURCE = "203.0.113.7"


@dataclass
class App:
    """What the phone holds: a P-256 key it signs protocol messages with."""

    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    @property
    def public_key(self) -> str:
        """The SubjectPublicKeyInfo, base64url, as the app sends it."""
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return b64url(der)

    def sign(self, label: str, *values: str) -> str:
        """The app's signature over one protocol signing string."""
        # Joined here, not by zorgid.core.protocol: the test states the contract on its own.
        message = "\n".join((label, *values)).encode()
        return b64url(self.key.sign(message, ec.ECDSA(hashes.SHA256())))


@dataclass(frozen=True)
class Activation:
    """An issued activation code as the app reads it from the QR."""

    activation_id: str
    nonce: str
    person_id: str


def new_activation(container: Container, *, email: str = "petra@delinde.example") -> Activation:
    """A person (gebruiker of no organisation) with a fresh activation code."""
    with container.unit_of_work() as session:
        identity = container.identity(session)
        person = identity.add_person(name="Petra de Vries", email=email, actor="cli", source="cli")
        identity.grant(person, Role.OPERATOR, organisation=None, actor="cli", source="cli")
        issued = identity.issue_activation(person, actor="cli", source="cli")
    _, nonce = issued.qr_text.split("#", 1)
    return Activation(issued.activation_id, nonce, person.id)


def redeem(
    container: Container,
    activation: Activation,
    *,
    app: App,
    pin: str = PIN,
    nonce: str | None = None,
) -> Device:
    """Redeem ``activation`` from ``app`` in its own unit of work, as the web layer does."""
    nonce = activation.nonce if nonce is None else nonce
    signature = app.sign("zorgid-activate-v1", activation.activation_id, nonce)
    with container.unit_of_work() as session:
        return container.identity(session).redeem_activation(
            activation.activation_id,
            nonce=nonce,
            public_key=app.public_key,
            pin=pin,
            label="Petra's phone",
            signature=signature,
            source=SOURCE,
        )


def activated_device(container: Container, *, pin: str = PIN) -> Device:
    """A person with one active device whose PIN is ``pin``."""
    return redeem(container, new_activation(container), app=App(), pin=pin)


def enter_pin(container: Container, device_id: str, pin: str) -> None:
    """One PIN check in its own unit of work, as the app's login answer makes it."""
    with container.unit_of_work() as session:
        identity = container.identity(session)
        identity.check_pin(device_id, pin, source=SOURCE)


def audit_actions(session: Session) -> list[str]:
    """The actions of the audit log, oldest first."""
    return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def count(session: Session, model: type[Base]) -> int:
    """How many rows a table holds."""
    return session.scalar(select(func.count()).select_from(model)) or 0


#: What :func:`write_story` leaves in the audit log, in order.
STORY = (
    "person.created",
    "membership.granted",
    "activation.issued",
    "activation.refused",
    "activation.redeemed",
    "pin.wrong",
)


def write_story(container: Container) -> None:
    """A person activates a phone (after one mistyped nonce) and enters one wrong PIN."""
    activation = new_activation(container)
    app = App()
    with pytest.raises(ActivationUnknownError):
        redeem(container, activation, app=app, nonce="not-the-nonce")
    device = redeem(container, activation, app=app)
    with pytest.raises(PinWrongError):
        enter_pin(container, device.id, "13579")
    with container.unit_of_work() as session:
        assert tuple(audit_actions(session)) == STORY
