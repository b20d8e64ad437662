"""Redeeming a one-time activation code (docs/protocol.md, "Activation"), on both databases."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from tests.support.identity import (
    PIN,
    App,
    audit_actions,
    count,
    new_activation,
    redeem,
)
from zorgid.audit.models import AuditEvent
from zorgid.core.tokens import new_id, new_token
from zorgid.identity.errors import (
    ActivationExpiredError,
    ActivationLockedError,
    ActivationUnknownError,
    ActivationUsedError,
    PinFormatError,
    SignatureInvalidError,
)
from zorgid.identity.models import ActivationCode, Device, DeviceStatus
from zorgid.identity.pin import check_pin_format

if TYPE_CHECKING:
    from tests.support.clock import ManualClock
    from zorgid.bootstrap import Container


def _code(container: Container, activation_id: str) -> ActivationCode:
    with container.unit_of_work() as session:
        code = session.get(ActivationCode, activation_id)
        assert code is not None
        return code


def test_a_redeemed_code_registers_one_active_device_for_its_person(container: Container) -> None:
    activation = new_activation(container)
    app = App()

    device = redeem(container, activation, app=app)

    with container.unit_of_work() as session:
        stored = session.get(Device, device.id)
        assert stored is not None
        assert stored.person_id == activation.person_id
        assert stored.status is DeviceStatus.ACTIVE
        assert stored.pin_failures == 0
        assert stored.label == "Petra's phone"
        assert PIN.encode() not in stored.pin_mac
        assert len(stored.pin_mac) == 32
        code = session.get(ActivationCode, activation.activation_id)
        assert code is not None
        assert code.used_at is not None
        assert code.device_id == device.id
        assert audit_actions(session)[-1] == "activation.redeemed"
        event = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        assert event is not None
        assert event.details == {"activation": activation.activation_id, "device": device.id}
        assert event.actor == f"device:{device.id}"


def test_the_activation_code_is_kept_only_as_a_hash(container: Container) -> None:
    activation = new_activation(container)

    code = _code(container, activation.activation_id)

    assert activation.nonce not in code.nonce_hash
    assert len(code.nonce_hash) == 64


def test_a_code_works_only_once(container: Container) -> None:
    activation = new_activation(container)
    redeem(container, activation, app=App())

    with pytest.raises(ActivationUsedError) as refused:
        redeem(container, activation, app=App())

    assert refused.value.code == "activation_used"
    with container.unit_of_work() as session:
        assert count(session, Device) == 1


def test_a_wrong_nonce_is_answered_as_unknown_and_counted(container: Container) -> None:
    activation = new_activation(container)

    with pytest.raises(ActivationUnknownError) as refused:
        redeem(container, activation, app=App(), nonce=new_token())

    assert refused.value.code == "activation_unknown"
    # keeps_changes: the refusal's unit of work committed the count and its audit event.
    assert _code(container, activation.activation_id).failed_attempts == 1
    with container.unit_of_work() as session:
        assert audit_actions(session)[-1] == "activation.refused"
        assert count(session, Device) == 0
    assert redeem(container, activation, app=App()).person_id == activation.person_id


def test_five_wrong_nonces_lock_the_code_even_for_the_right_one(container: Container) -> None:
    activation = new_activation(container)
    for attempt in range(1, 6):
        with pytest.raises(ActivationUnknownError):
            redeem(container, activation, app=App(), nonce=new_token())
        assert _code(container, activation.activation_id).failed_attempts == attempt

    with pytest.raises(ActivationLockedError) as refused:
        redeem(container, activation, app=App())

    assert refused.value.code == "activation_locked"
    code = _code(container, activation.activation_id)
    assert code.used_at is None
    assert code.device_id is None
    with container.unit_of_work() as session:
        assert count(session, Device) == 0
        # Five wrong nonces; the right one came after the lock and was not judged or audited.
        assert audit_actions(session).count("activation.refused") == 5
        refused_events = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "activation.refused")
            .order_by(AuditEvent.seq)
        ).all()
        assert [e.details.get("locked") for e in refused_events] == [None] * 4 + [True]


def test_a_locked_code_is_refused_before_its_nonce_is_judged(container: Container) -> None:
    activation = new_activation(container)
    for _ in range(5):
        with pytest.raises(ActivationUnknownError):
            redeem(container, activation, app=App(), nonce=new_token())
    with container.unit_of_work() as session:
        events = len(audit_actions(session))

    # Wrong nonces and the right one get the same answer; none is counted or audited.
    answers = set()
    for nonce in [new_token() for _ in range(49)] + [activation.nonce]:
        with pytest.raises(ActivationLockedError) as refused:
            redeem(container, activation, app=App(), nonce=nonce)
        answers.add((refused.value.code, refused.value.public_message("en")))

    assert answers == {("activation_locked", ActivationLockedError().public_message("en"))}
    assert _code(container, activation.activation_id).failed_attempts == 5
    with container.unit_of_work() as session:
        assert len(audit_actions(session)) == events
        assert count(session, Device) == 0


def test_four_wrong_nonces_still_let_the_right_one_in(container: Container) -> None:
    activation = new_activation(container)
    for _ in range(4):
        with pytest.raises(ActivationUnknownError):
            redeem(container, activation, app=App(), nonce=new_token())

    device = redeem(container, activation, app=App())

    assert device.person_id == activation.person_id


def test_an_expired_code_is_refused_and_stays_unused(
    container: Container, clock: ManualClock
) -> None:
    activation = new_activation(container)
    clock.advance(container.settings.activation_ttl_minutes * 60)

    with pytest.raises(ActivationExpiredError) as refused:
        redeem(container, activation, app=App())

    assert refused.value.code == "activation_expired"
    assert _code(container, activation.activation_id).used_at is None
    with container.unit_of_work() as session:
        assert count(session, Device) == 0


def test_a_code_works_until_the_last_second_of_its_lifetime(
    container: Container, clock: ManualClock
) -> None:
    activation = new_activation(container)
    clock.advance(container.settings.activation_ttl_minutes * 60 - 1)

    assert redeem(container, activation, app=App()).status is DeviceStatus.ACTIVE


def test_an_unknown_code_is_refused_and_writes_nothing(container: Container) -> None:
    activation = new_activation(container)
    with container.unit_of_work() as session:
        events_before = len(audit_actions(session))
    unknown = type(activation)(new_id(), activation.nonce, activation.person_id)

    with pytest.raises(ActivationUnknownError) as refused:
        redeem(container, unknown, app=App())

    assert refused.value.code == "activation_unknown"
    with container.unit_of_work() as session:
        assert len(audit_actions(session)) == events_before
        assert count(session, Device) == 0


def test_a_signature_by_another_key_is_refused_and_leaves_the_code_usable(
    container: Container,
) -> None:
    activation = new_activation(container)
    app, impostor = App(), App()
    signature = impostor.sign("zorgid-activate-v1", activation.activation_id, activation.nonce)

    with pytest.raises(SignatureInvalidError) as refused, container.unit_of_work() as session:
        container.identity(session).redeem_activation(
            activation.activation_id,
            nonce=activation.nonce,
            public_key=app.public_key,
            pin=PIN,
            label="phone",
            signature=signature,
            source="203.0.113.7",
        )

    assert refused.value.code == "signature_invalid"
    assert _code(container, activation.activation_id).used_at is None
    assert redeem(container, activation, app=app).person_id == activation.person_id


@pytest.mark.parametrize(
    "pin",
    [
        "",
        "1234",
        "123456",
        "abcde",
        "1234a",
        " 2468",
        "2468 ",
        "11111",
        "00000",
        "12345",
        "01234",
        "56789",
        "54321",
        "98765",
        "\uff12\uff14\uff16\uff18\uff10",
        "٢٤٦٨٠",
    ],
)
def test_a_pin_breaking_the_rules_is_refused(pin: str) -> None:
    with pytest.raises(PinFormatError) as refused:
        check_pin_format(pin)

    assert refused.value.code == "pin_format"


@pytest.mark.parametrize("pin", ["24680", "13579", "12354", "00001", "90123", "11112"])
def test_a_pin_of_five_mixed_digits_is_accepted(pin: str) -> None:
    check_pin_format(pin)


def test_a_redemption_with_a_bad_pin_leaves_the_code_unused(container: Container) -> None:
    activation = new_activation(container)

    with pytest.raises(PinFormatError):
        redeem(container, activation, app=App(), pin="12345")

    assert _code(container, activation.activation_id).used_at is None
    with container.unit_of_work() as session:
        assert count(session, Device) == 0
