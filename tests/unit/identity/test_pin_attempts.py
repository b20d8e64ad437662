"""PIN checks by the server: 3 free tries, back-off, then blocked (docs/protocol.md, "PIN")."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from tests.support.identity import PIN, activated_device, audit_actions, enter_pin
from zorgid.audit.models import AuditEvent
from zorgid.identity.errors import (
    DeviceBlockedError,
    DeviceRevokedError,
    PinWaitError,
    PinWrongError,
)
from zorgid.identity.models import Device, DeviceStatus

if TYPE_CHECKING:
    from tests.support.clock import ManualClock
    from zorgid.bootstrap import Container

WRONG = "13579"


def _stored(container: Container, device_id: str) -> Device:
    with container.unit_of_work() as session:
        device = session.get(Device, device_id)
        assert device is not None
        return device


def _wrong(container: Container, device_id: str) -> PinWrongError:
    with pytest.raises(PinWrongError) as refused:
        enter_pin(container, device_id, WRONG)
    assert refused.value.code == "pin_wrong"
    return refused.value


def _must_wait(container: Container, device_id: str, pin: str = WRONG) -> PinWaitError:
    with pytest.raises(PinWaitError) as refused:
        enter_pin(container, device_id, pin)
    assert refused.value.code == "pin_wait"
    return refused.value


def test_the_right_pin_passes_and_marks_the_device_used(
    container: Container, clock: ManualClock
) -> None:
    device = activated_device(container)
    moment = clock.advance(30)

    enter_pin(container, device.id, PIN)

    stored = _stored(container, device.id)
    assert stored.pin_failures == 0
    assert stored.last_used_at == moment


def test_three_wrong_pins_are_free_and_count_down_the_attempts(container: Container) -> None:
    device = activated_device(container)

    remaining = [_wrong(container, device.id).params["remaining_attempts"] for _ in range(3)]

    assert remaining == [5, 4, 3]
    # keeps_changes: each refusal committed its count.
    assert _stored(container, device.id).pin_failures == 3
    with container.unit_of_work() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "pin.wrong").order_by(AuditEvent.seq)
        ).all()
        assert [e.details for e in events] == [{"failures": 1}, {"failures": 2}, {"failures": 3}]
        assert {e.subject for e in events} == {f"device:{device.id}"}


def test_after_three_wrong_pins_the_fourth_try_waits_60_seconds(
    container: Container, clock: ManualClock
) -> None:
    device = activated_device(container)
    for _ in range(3):
        _wrong(container, device.id)

    waiting = _must_wait(container, device.id)
    assert waiting.params == {"retry_after": 60, "remaining_attempts": 3}
    clock.advance(59)
    assert _must_wait(container, device.id).params["retry_after"] == 1
    # Waiting is not a try: the right PIN must wait too, and no attempt was used up.
    _must_wait(container, device.id, PIN)
    assert _stored(container, device.id).pin_failures == 3

    clock.advance(1)
    assert _wrong(container, device.id).params["remaining_attempts"] == 2


def test_the_wait_doubles_after_each_further_wrong_pin(
    container: Container, clock: ManualClock
) -> None:
    device = activated_device(container)
    for _ in range(3):
        _wrong(container, device.id)
    clock.advance(60)
    _wrong(container, device.id)

    assert _must_wait(container, device.id).params["retry_after"] == 120
    clock.advance(120)
    assert _wrong(container, device.id).params["remaining_attempts"] == 1
    assert _must_wait(container, device.id).params == {"retry_after": 240, "remaining_attempts": 1}


def test_the_last_wrong_pin_blocks_the_device_everywhere(
    container: Container, clock: ManualClock
) -> None:
    device = activated_device(container)
    for _ in range(3):
        _wrong(container, device.id)
    for wait in (60, 120):
        clock.advance(wait)
        _wrong(container, device.id)
    clock.advance(240)

    with pytest.raises(DeviceBlockedError) as blocked:
        enter_pin(container, device.id, WRONG)

    assert blocked.value.code == "device_blocked"
    stored = _stored(container, device.id)
    assert stored.status is DeviceStatus.BLOCKED
    assert stored.pin_failures == container.settings.pin_max_failures
    with container.unit_of_work() as session:
        assert audit_actions(session)[-1] == "device.blocked"
    # Blocked is final: the right PIN, however long after, and any use of the device are refused.
    clock.advance(86_400)
    with pytest.raises(DeviceBlockedError):
        enter_pin(container, device.id, PIN)
    with pytest.raises(DeviceBlockedError), container.unit_of_work() as session:
        container.identity(session).device(device.id)
    with container.unit_of_work() as session:
        assert container.identity(session).device(device.id, usable=False).status == "blocked"


def test_the_right_pin_resets_the_count_of_wrong_ones(
    container: Container, clock: ManualClock
) -> None:
    device = activated_device(container)
    for _ in range(3):
        _wrong(container, device.id)
    clock.advance(60)

    enter_pin(container, device.id, PIN)

    stored = _stored(container, device.id)
    assert stored.pin_failures == 0
    assert stored.pin_next_try_at is None
    assert [_wrong(container, device.id).params["remaining_attempts"] for _ in range(3)] == [
        5,
        4,
        3,
    ]


def test_a_revoked_device_cannot_check_a_pin(container: Container) -> None:
    device = activated_device(container)
    with container.unit_of_work() as session:
        identity = container.identity(session)
        identity.revoke_device(identity.device(device.id), actor="cli", source="cli")

    with pytest.raises(DeviceRevokedError) as refused:
        enter_pin(container, device.id, PIN)

    assert refused.value.code == "device_revoked"
    assert _stored(container, device.id).pin_failures == 0


def test_the_wrong_pin_that_starts_the_wait_says_how_long(
    container: Container, clock: ManualClock
) -> None:
    device = activated_device(container)
    first, second = (_wrong(container, device.id).params for _ in range(2))
    assert "retry_after" not in first
    assert "retry_after" not in second

    third = _wrong(container, device.id)  # the last free try: from now on, waits

    assert third.params == {"remaining_attempts": 3, "retry_after": 60}
    assert "Wait 60 seconds" in third.public_message("en")
    assert "Wacht 60 seconden" in third.public_message("nl")
    # The wait it announced is the wait the next try meets.
    assert _must_wait(container, device.id).params["retry_after"] == 60
    clock.advance(60)
    # And each later wrong PIN announces its own, doubled wait.
    assert _wrong(container, device.id).params == {"remaining_attempts": 2, "retry_after": 120}
