"""Setting up people the way the operator's commands do, for functional tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from zorgid.core.tokens import new_id
from zorgid.identity.models import Device, Organisation, Person, Role

if TYPE_CHECKING:
    from collections.abc import Iterable

    from zorgid.bootstrap import Container
    from zorgid.identity.service import IssuedActivation


def add_operator(container: Container, *, name: str, email: str) -> IssuedActivation:
    """What ``zorgid operator add`` does: a person, the operator role, an activation code."""
    with container.unit_of_work() as session:
        identity = container.identity(session)
        return identity.add_operator(name=name, email=email, actor="cli", source="cli")[1]


def add_member(
    container: Container,
    *,
    name: str,
    email: str,
    roles: Iterable[tuple[Role, tuple[str, str] | None]],
) -> IssuedActivation:
    """A person with ``roles`` (each for an organisation ``(ura, name)``, or for the service).

    Organisations are written as rows: no service operation registers them yet.
    """
    with container.unit_of_work() as session:
        identity = container.identity(session)
        person = identity.add_person(name=name, email=email, actor="cli", source="cli")
        for role, where in roles:
            organisation = None
            if where is not None:
                ura, organisation_name = where
                organisation = session.scalars(
                    select(Organisation).where(Organisation.ura == ura)
                ).one_or_none()
                if organisation is None:
                    organisation = Organisation(
                        id=new_id(),
                        ura=ura,
                        name=organisation_name,
                        created_at=container.clock.now(),
                    )
                    session.add(organisation)
            identity.grant(person, role, organisation=organisation, actor="cli", source="cli")
        return identity.issue_activation(person, actor="cli", source="cli")


def new_activation(container: Container, *, email: str) -> IssuedActivation:
    """Another activation code for someone registered before (after a revoked or lost phone)."""
    with container.unit_of_work() as session:
        person = session.scalars(select(Person).where(Person.email == email)).one()
        return container.identity(session).issue_activation(person, actor="cli", source="cli")


def revoke_device(container: Container, device_id: str) -> None:
    """What the operator does to a lost phone: the app is told to wipe itself."""
    with container.unit_of_work() as session:
        device = session.get(Device, device_id)
        assert device is not None
        container.identity(session).revoke_device(device, actor="operator", source="cli")
