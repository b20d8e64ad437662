"""The list of accepted applications: adding, changing, withdrawing, and what a form may name."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from tests.support.identity import audit_actions, count
from zorgid.applications.errors import (
    ApplicationExistsError,
    ApplicationInvalidError,
    ApplicationNotAcceptedError,
    ApplicationUnknownError,
    ApplicationWithdrawnError,
)
from zorgid.applications.models import AcceptedApplication
from zorgid.audit.log import verify_chain
from zorgid.audit.models import AuditEvent

if TYPE_CHECKING:
    from tests.support.clock import ManualClock
    from zorgid.applications.service import ApplicationView
    from zorgid.bootstrap import Container

SUPPORTS = "Inloggen met ZORG-ID (OpenID Connect)"


def add(container: Container, ident: str = "example-his", **fields: str) -> ApplicationView:
    values = {
        "name": "Example HIS",
        "vendor": "Example BV",
        "supports": SUPPORTS,
        "website": "https://his.example.nl",
        **fields,
    }
    with container.unit_of_work() as session:
        return container.applications(session).add(
            ident, **values, actor="person:op", source="203.0.113.9"
        )


def test_an_added_application_is_listed_and_audited(container: Container) -> None:
    added = add(container)
    assert added.as_json() == {
        "id": "example-his",
        "name": "Example HIS",
        "vendor": "Example BV",
        "supports": SUPPORTS,
        "website": "https://his.example.nl",
    }
    with container.reading() as session:
        assert [a.id for a in container.applications(session).listed()] == ["example-his"]
        event = session.scalars(select(AuditEvent)).one()
        assert event.action == "application.added"
        assert event.subject == "application:example-his"
        assert event.actor == "person:op"
        assert event.source == "203.0.113.9"


def test_the_public_list_is_by_name_and_leaves_out_withdrawn_ones(container: Container) -> None:
    add(container, "zeta", name="Zorgdossier")
    add(container, "alpha", name="Apotheek Plus")
    add(container, "gone", name="Bestaat Niet Meer")
    with container.unit_of_work() as session:
        container.applications(session).withdraw("gone", actor="person:op", source="cli")
    with container.reading() as session:
        service = container.applications(session)
        assert [a.name for a in service.listed()] == ["Apotheek Plus", "Zorgdossier"]
        everything = service.all()
    assert [a.id for a in everything] == ["alpha", "zeta", "gone"]
    assert everything[-1].withdrawn


def test_text_is_tidied_and_the_id_lower_cased(container: Container) -> None:
    added = add(container, "  Example-HIS ", name="  Example \t HIS\n", website="  ")
    assert added.id == "example-his"
    assert added.name == "Example HIS"
    assert added.website is None


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("id", {"ident": "x"}),
        ("id", {"ident": "-leading-hyphen"}),
        ("id", {"ident": "has space"}),
        ("id", {"ident": "a" * 64}),
        ("id", {"ident": "naïve"}),
        ("name", {"name": ""}),
        ("name", {"name": "x" * 201}),
        ("name", {"name": "Evil\u202eSIH"}),
        ("name", {"name": "<script>"}),
        ("vendor", {"vendor": "   "}),
        ("supports", {"supports": "y" * 501}),
        ("website", {"website": "http://his.example.nl"}),
        ("website", {"website": "javascript:alert(1)"}),
        ("website", {"website": "https://bank.example.nl@evil.example"}),
        ("website", {"website": "https://"}),
        ("website", {"website": "https://localhost"}),
        ("website", {"website": "https://his.example.nl:99999"}),
        ("website", {"website": "https://his.example.nl/a b"}),
        ("website", {"website": "https://his.example.nl/" + "p" * 300}),
    ],
)
def test_bad_fields_are_refused_per_field_and_nothing_is_written(
    container: Container, field: str, values: dict[str, str]
) -> None:
    with pytest.raises(ApplicationInvalidError) as refused:
        add(container, **values)
    assert set(refused.value.problems) == {field}
    assert refused.value.code == "application_invalid"
    assert refused.value.public_message("en").startswith("The application's details are not")
    with container.reading() as session:
        assert count(session, AcceptedApplication) == 0
        assert count(session, AuditEvent) == 0


def test_every_bad_field_is_reported_at_once(container: Container) -> None:
    with pytest.raises(ApplicationInvalidError) as refused:
        add(container, "?", name="", vendor="", supports="", website="ftp://x")
    assert set(refused.value.problems) == {"id", "name", "vendor", "supports", "website"}


def test_an_id_is_never_reused_not_even_after_withdrawal(container: Container) -> None:
    add(container)
    with pytest.raises(ApplicationExistsError):
        add(container, name="Another")
    with container.unit_of_work() as session:
        container.applications(session).withdraw("example-his", actor="person:op", source="cli")
    with pytest.raises(ApplicationExistsError):
        add(container, name="Another")


def test_a_change_is_audited_with_the_fields_that_changed(
    container: Container, clock: ManualClock
) -> None:
    added = add(container)
    later = clock.advance(60)
    with container.unit_of_work() as session:
        changed = container.applications(session).change(
            "example-his",
            "Example HIS 2",
            "Example BV",
            SUPPORTS,
            "https://his2.example.nl/inloggen",
            actor="person:op",
            source="cli",
        )
    assert changed.name == "Example HIS 2"
    assert changed.updated_at == later
    assert changed.created_at == added.created_at
    with container.reading() as session:
        event = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        assert event is not None
        assert event.action == "application.changed"
        assert event.details == {"fields": ["name", "website"]}
        assert container.applications(session).get("example-his").name == "Example HIS 2"


def test_a_change_that_changes_nothing_is_not_audited(container: Container) -> None:
    add(container)
    with container.unit_of_work() as session:
        container.applications(session).change(
            "example-his",
            "Example HIS",
            "Example BV",
            SUPPORTS,
            "https://his.example.nl",
            actor="person:op",
            source="cli",
        )
        assert audit_actions(session) == ["application.added"]


def test_a_withdrawn_application_can_be_neither_changed_nor_withdrawn_again(
    container: Container,
) -> None:
    add(container)
    with container.unit_of_work() as session:
        gone = container.applications(session).withdraw(
            "example-his", actor="person:op", source="cli"
        )
    assert gone.withdrawn
    with pytest.raises(ApplicationWithdrawnError), container.unit_of_work() as session:
        container.applications(session).change(
            "example-his", "New", "V", SUPPORTS, "", actor="person:op", source="cli"
        )
    with pytest.raises(ApplicationWithdrawnError), container.unit_of_work() as session:
        container.applications(session).withdraw("example-his", actor="person:op", source="cli")
    with container.reading() as session:
        assert audit_actions(session) == ["application.added", "application.withdrawn"]
        assert verify_chain(session, container.keys.audit).intact


@pytest.mark.parametrize("ident", ["nope", "x", "../etc", "a" * 500, ""])
def test_an_unknown_id_is_refused(container: Container, ident: str) -> None:
    with pytest.raises(ApplicationUnknownError), container.reading() as session:
        container.applications(session).get(ident)
    with pytest.raises(ApplicationUnknownError), container.unit_of_work() as session:
        container.applications(session).withdraw(ident, actor="person:op", source="cli")


def test_known_ids_keeps_order_drops_repeats_and_names_every_stranger(
    container: Container,
) -> None:
    add(container, "alpha", name="A")
    add(container, "beta", name="B")
    add(container, "gone", name="G")
    with container.unit_of_work() as session:
        container.applications(session).withdraw("gone", actor="person:op", source="cli")
    with container.reading() as session:
        service = container.applications(session)
        assert service.known_ids(["beta", "alpha", "beta"]) == ("beta", "alpha")
        assert service.known_ids([]) == ()
        with pytest.raises(ApplicationNotAcceptedError) as refused:
            service.known_ids(["alpha", "gone", "nope", "<x>"])
    assert refused.value.unknown == ("gone", "nope", "<x>")
    assert "gone, nope, <x>" in refused.value.public_message("en")
