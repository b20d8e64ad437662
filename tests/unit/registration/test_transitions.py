"""Every transition of a registration request through the service, with its mails and timeline.

Each test runs on SQLite and PostgreSQL (the ``registration`` world).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from tests.support.registration import DETAILS, FORM, World, body
from zorgid.audit.models import AuditEvent
from zorgid.identity.models import ActivationCode, Membership, Organisation, Person, Role
from zorgid.registration.errors import (
    FormInvalidError,
    OrganisationExistsError,
    RequestUnknownError,
    TransitionNotAllowedError,
)
from zorgid.registration.models import RegistrationEvent as TimelineRow
from zorgid.registration.states import RegistrationState
from zorgid.registration.views import ApplicationForm

if TYPE_CHECKING:
    from zorgid.registration.views import Submitted

S = RegistrationState
DAY = 86400.0


def state(world: World, submitted: Submitted) -> RegistrationState:
    return world.request(submitted.number).state


def timeline(world: World, submitted: Submitted) -> list[str]:
    with world.container.reading() as session:
        return list(
            session.scalars(
                select(TimelineRow.kind)
                .where(TimelineRow.request_id == submitted.request_id)
                .order_by(TimelineRow.id)
            )
        )


def audit_actions(world: World) -> list[str]:
    with world.container.reading() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def test_submit_waits_for_the_document_and_mails_it_prefilled(registration: World) -> None:
    submitted = registration.submit()

    assert state(registration, submitted) is S.AWAITING_DOCUMENT
    mail = registration.last_request_mail()
    assert submitted.number in str(mail["Subject"])
    assert str(mail["Reply-To"]).startswith("aanvraag+")
    document = registration.prefilled().decode()
    assert f"<Aanvraagnummer>{submitted.number}</Aanvraagnummer>" in document
    assert "<URA>90000123</URA>" in document
    assert "<Uitdaging>" in document
    assert timeline(registration, submitted) == ["submitted", "mail_out"]
    assert "registration.submitted" in audit_actions(registration)


def test_a_bad_form_is_refused_field_by_field_and_stores_nothing(registration: World) -> None:
    bad = ApplicationForm(
        ura="1234",
        organisation_name=" ",
        technical_name="Jan",
        technical_email="not-an-address",
        admin_name="<script>",
        admin_email="petra@delinde.example",
        applications=("unknown-app",),
    )
    with pytest.raises(FormInvalidError) as refused:
        registration.submit(bad)

    assert set(refused.value.problems) >= {
        "ura",
        "organisation_name",
        "technical_email",
        "admin_name",
        "applications",
    }
    assert registration.mails() == []
    with registration.container.reading() as session:
        assert session.scalar(select(TimelineRow.id)) is None


def test_document_accepted_by_upload_waits_for_the_details(registration: World) -> None:
    submitted = registration.to_awaiting_details()

    assert state(registration, submitted) is S.AWAITING_DETAILS
    accepted = registration.last_mail(FORM.technical_email)
    assert "accepted" in str(accepted["Subject"]).lower()
    said = body(accepted)
    assert f"Portal administrator: {FORM.admin_name} <{FORM.admin_email}>" in said
    assert "Applications: example-his" in said
    assert "CN=his.delinde.example" in said
    assert "/gegevens/" in body(registration.last_mail(FORM.admin_email))
    row = registration.request(submitted.number)
    assert row.verification is not None
    assert row.verification["certificate"]["ura"] == "90000123"
    assert row.signed_document is not None
    assert "document_accepted" in timeline(registration, submitted)


def test_details_need_the_confirmed_address_then_wait_for_review(registration: World) -> None:
    submitted = registration.to_awaiting_details()
    token = registration.details_token()
    with (
        pytest.raises(TransitionNotAllowedError),
        registration.container.unit_of_work() as session,
    ):
        registration.service(session).give_details(token, DETAILS, source="t")
    assert state(registration, submitted) is S.AWAITING_DETAILS

    with registration.container.unit_of_work() as session:
        page = registration.service(session).confirm_email(token, source="t")
    assert page.confirmed
    with registration.container.unit_of_work() as session:
        registration.service(session).give_details(token, DETAILS, source="t")

    assert state(registration, submitted) is S.AWAITING_REVIEW
    row = registration.request(submitted.number)
    assert (row.admin_full_name, str(row.admin_birth_date), row.admin_phone) == (
        "Petra Anna de Vries",
        "1980-05-17",
        "+31612345678",
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("birth_date", "17-05-1980"),
        ("birth_date", "2025-01-01"),
        ("phone", "call me"),
        ("full_name", ""),
    ],
)
def test_bad_details_are_refused_and_change_nothing(
    registration: World, field: str, value: str
) -> None:
    submitted = registration.to_awaiting_details()
    token = registration.details_token()
    with registration.container.unit_of_work() as session:
        registration.service(session).confirm_email(token, source="t")
    details = DETAILS.__class__(**{**DETAILS.__dict__, field: value})
    with (
        pytest.raises(FormInvalidError) as refused,
        registration.container.unit_of_work() as session,
    ):
        registration.service(session).give_details(token, details, source="t")
    assert field in refused.value.problems
    assert state(registration, submitted) is S.AWAITING_DETAILS


def test_approve_makes_the_organisation_and_its_administrator_and_mails_the_qr(
    registration: World,
) -> None:
    submitted = registration.to_approved()

    assert state(registration, submitted) is S.APPROVED
    with registration.container.reading() as session:
        organisation = session.scalars(select(Organisation)).one()
        person = session.scalars(select(Person).where(Person.email == FORM.admin_email)).one()
        membership = session.scalars(select(Membership)).one()
        codes = session.scalars(select(ActivationCode)).all()
        assert (organisation.ura, organisation.name) == ("90000123", FORM.organisation_name)
        assert person.name == "Petra Anna de Vries"
        assert (membership.role, membership.organisation_id) == (
            Role.ADMINISTRATOR,
            organisation.id,
        )
        assert len(codes) == 1
        assert codes[0].person_id == person.id
    mail = registration.last_mail(FORM.admin_email)
    attachments = list(mail.iter_attachments())
    assert [a.get_content_type() for a in attachments] == ["image/png"]
    assert "/app/activeer/" in body(mail)
    assert "registration.approved" in audit_actions(registration)


def test_first_login_completes_the_approved_request(registration: World) -> None:
    submitted = registration.to_approved()
    person_id = registration.request(submitted.number).admin_person_id
    assert person_id is not None

    with registration.container.unit_of_work() as session:
        assert registration.service(session).first_login(person_id, source="t") == 1
    with registration.container.unit_of_work() as session:
        assert registration.service(session).first_login(person_id, source="t") == 0

    assert state(registration, submitted) is S.COMPLETED


@pytest.mark.parametrize("stage", ["submit", "to_awaiting_details", "to_awaiting_review"])
def test_reject_from_every_open_state_tells_the_organisation(
    registration: World, stage: str
) -> None:
    submitted = getattr(registration, stage)()
    with registration.container.unit_of_work() as session:
        registration.service(session).reject(
            submitted.request_id, "URA onbekend bij het UZI-register", actor="op", source="t"
        )

    assert state(registration, submitted) is S.REJECTED
    assert "URA onbekend" in body(registration.last_mail(FORM.technical_email))


def test_reject_needs_a_reason(registration: World) -> None:
    submitted = registration.submit()
    with pytest.raises(FormInvalidError), registration.container.unit_of_work() as session:
        registration.service(session).reject(submitted.request_id, "  ", actor="op", source="t")
    assert state(registration, submitted) is S.AWAITING_DOCUMENT


@pytest.mark.parametrize("stage", ["submit", "to_awaiting_details", "to_awaiting_review"])
def test_withdraw_from_every_open_state(registration: World, stage: str) -> None:
    submitted = getattr(registration, stage)()
    token = registration.reply_token()
    with registration.container.unit_of_work() as session:
        public = registration.service(session).withdraw(token, source="t")

    assert public.state is S.WITHDRAWN
    assert not public.can_upload
    assert not public.can_withdraw
    assert state(registration, submitted) is S.WITHDRAWN


@pytest.mark.parametrize("stage", ["submit", "to_awaiting_details"])
def test_waiting_requests_expire_after_their_deadline_and_not_before(
    registration: World, stage: str
) -> None:
    submitted = getattr(registration, stage)()
    deadline = registration.request(submitted.number).deadline_at
    assert deadline is not None
    registration.clock.advance((deadline - registration.clock.now()).total_seconds() - 1)
    assert registration.container.expire_registrations() == 0

    registration.clock.advance(1)
    assert registration.container.expire_registrations() == 1

    assert state(registration, submitted) is S.EXPIRED
    assert "expired" in body(registration.last_mail(FORM.technical_email))


@pytest.mark.parametrize("stage", ["to_awaiting_review", "to_approved"])
def test_requests_not_waiting_on_the_organisation_do_not_expire(
    registration: World, stage: str
) -> None:
    submitted = getattr(registration, stage)()
    before = state(registration, submitted)
    registration.clock.advance(365 * DAY)
    assert registration.container.expire_registrations() == 0
    assert state(registration, submitted) is before


@pytest.mark.parametrize(
    ("stage", "action"),
    [
        ("submit", "approve"),
        ("to_awaiting_details", "approve"),
        ("to_approved", "approve"),
        ("to_approved", "reject"),
    ],
)
def test_operator_actions_outside_their_state_are_refused(
    registration: World, stage: str, action: str
) -> None:
    submitted = getattr(registration, stage)()
    before = state(registration, submitted)
    with registration.container.unit_of_work() as session:
        service = registration.service(session)
        if action == "approve":
            with pytest.raises(TransitionNotAllowedError):
                service.approve(submitted.request_id, actor="op", source="t")
        else:
            with pytest.raises(TransitionNotAllowedError):
                service.reject(submitted.request_id, "no", actor="op", source="t")
    assert state(registration, submitted) is before


def test_a_final_request_cannot_be_withdrawn_again(registration: World) -> None:
    registration.submit()
    token = registration.reply_token()
    with registration.container.unit_of_work() as session:
        registration.service(session).withdraw(token, source="t")
    with pytest.raises(TransitionNotAllowedError), registration.container.unit_of_work() as session:
        registration.service(session).withdraw(token, source="t")


def test_resend_replaces_the_links_of_the_waiting_step(registration: World) -> None:
    submitted = registration.submit()
    old = registration.reply_token()
    with registration.container.unit_of_work() as session:
        detail = registration.service(session).resend(submitted.request_id, actor="op", source="t")
    new = registration.reply_token()

    assert new != old
    assert "resend" in detail.actions
    with pytest.raises(RequestUnknownError), registration.container.reading() as session:
        registration.service(session).public_request(old)
    assert state(registration, submitted) is S.AWAITING_DOCUMENT
    assert timeline(registration, submitted)[-2:] == ["mail_out", "resent"]


def test_approving_an_already_registered_ura_is_refused(registration: World) -> None:
    first = registration.to_approved()
    assert state(registration, first) is S.APPROVED
    second = registration.to_awaiting_review()
    with pytest.raises(OrganisationExistsError), registration.container.unit_of_work() as session:
        registration.service(session).approve(second.request_id, actor="op", source="t")
    assert state(registration, second) is S.AWAITING_REVIEW
