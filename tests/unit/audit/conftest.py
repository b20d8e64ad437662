"""An audit log with a real sequence of events, written by the services."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.support.identity import App, audit_actions, enter_pin, new_activation, redeem
from zorgid.identity.errors import ActivationUnknownError, PinWrongError

if TYPE_CHECKING:
    from zorgid.bootstrap import Container

#: What the fixture's story writes, in order.
STORY = (
    "person.created",
    "membership.granted",
    "activation.issued",
    "activation.refused",
    "activation.redeemed",
    "pin.wrong",
)


@pytest.fixture
def story(container: Container) -> Container:
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
    return container
