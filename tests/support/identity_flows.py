"""Setting up people the way the operator's commands do, for functional tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zorgid.identity.models import Role

if TYPE_CHECKING:
    from zorgid.bootstrap import Container
    from zorgid.identity.service import IssuedActivation


def add_operator(container: Container, *, name: str, email: str) -> IssuedActivation:
    """What ``zorgid operator add`` does: a person, the operator role, an activation code."""
    with container.unit_of_work() as session:
        identity = container.identity(session)
        person = identity.add_person(name=name, email=email, actor="cli", source="cli")
        identity.grant(person, Role.OPERATOR, organisation=None, actor="cli", source="cli")
        return identity.issue_activation(person, actor="cli", source="cli")
