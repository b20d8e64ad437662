"""Registration requests under attack and under clumsy use (security review of flow 1b).

Each test runs on SQLite and PostgreSQL (the ``registration`` world).
"""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from tests.support.identity import Activation as ScannedActivation
from tests.support.identity import App, redeem
from tests.support.registration import DETAILS, FORM, OTHER_URA, World, body
from zorgid.identity.errors import ActivationExpiredError
from zorgid.identity.models import ActivationCode, Membership, Organisation, Person, Role
from zorgid.registration.errors import (
    AdministratorIsOperatorError,
    DocumentValuesError,
    OrganisationExistsError,
)
from zorgid.registration.states import RegistrationState

if TYPE_CHECKING:
    from zorgid.registration.views import Submitted

S = RegistrationState


def state(world: World, submitted: Submitted) -> RegistrationState:
    return world.request(submitted.number).state


def activation_in(world: World, person_id: str) -> ScannedActivation:
    """The activation code in the newest approval mail to the administrator."""
    text = body(world.last_mail(FORM.admin_email))
    qr = text.split("/app/activeer/", 1)[1].split()[0]
    activation_id, nonce = qr.split("#", 1)
    return ScannedActivation(activation_id, nonce, person_id)


def test_a_resent_activation_mail_makes_the_earlier_qr_useless(registration: World) -> None:
    submitted = registration.to_approved()
    person_id = registration.request(submitted.number).admin_person_id
    assert person_id is not None
    first = activation_in(registration, person_id)
    with registration.container.unit_of_work() as session:
        registration.service(session).resend(submitted.request_id, actor="op", source="t")
    second = activation_in(registration, person_id)
    assert second.activation_id != first.activation_id

    with pytest.raises(ActivationExpiredError):
        redeem(registration.container, first, app=App())
    redeem(registration.container, second, app=App())


def test_an_approved_request_does_not_expire_and_a_resend_gives_a_new_code(
    registration: World,
) -> None:
    # The organisation and its administrator exist once approved: expiring the request would
    # leave them behind with a request that says otherwise. The code has its own lifetime.
    submitted = registration.to_approved()
    assert registration.request(submitted.number).deadline_at is None
    registration.clock.advance(365 * 86400)
    assert registration.container.expire_registrations() == 0
    assert state(registration, submitted) is S.APPROVED
    with registration.container.unit_of_work() as session:
        registration.service(session).resend(submitted.request_id, actor="op", source="t")
    person_id = registration.request(submitted.number).admin_person_id
    assert person_id is not None
    redeem(registration.container, activation_in(registration, person_id), app=App())


def test_an_administrator_whose_app_is_active_gets_a_notice_not_a_new_code(
    registration: World,
) -> None:
    # Someone who already has a working app (say, a healthcare worker elsewhere) logs in with
    # it; a new code would only give whoever reads the mailbox a second device.
    with registration.container.unit_of_work() as session:
        person = registration.container.identity(session).add_person(
            name="Petra de Vries", email=FORM.admin_email, actor="cli", source="cli"
        )
        issued = registration.container.identity(session).issue_activation(
            person, actor="cli", source="cli"
        )
        person_id = person.id
    activation_id, nonce = issued.qr_text.split("/app/activeer/", 1)[1].split("#", 1)
    redeem(registration.container, ScannedActivation(activation_id, nonce, person_id), app=App())
    with registration.container.reading() as session:
        codes_before = len(session.scalars(select(ActivationCode)).all())

    submitted = registration.to_approved()

    with registration.container.reading() as session:
        assert len(session.scalars(select(ActivationCode)).all()) == codes_before
    notice = registration.last_mail(FORM.admin_email)
    assert not list(notice.iter_attachments())
    assert "nothing to activate" in body(notice)
    assert registration.request(submitted.number).admin_person_id == person_id
    with registration.container.unit_of_work() as session:
        assert registration.service(session).first_login(person_id, source="t") == 1


def test_refusals_beyond_a_few_a_day_are_recorded_but_not_mailed(registration: World) -> None:
    submitted = registration.submit()
    token = registration.reply_token()
    before = len(registration.mails(FORM.technical_email))
    for _ in range(12):
        with registration.container.unit_of_work() as session:
            registration.service(session).receive_mail(
                token, b"Subject: no attachment\r\n\r\nhello\r\n", envelope_from="x@y.example"
            )
    assert len(registration.mails(FORM.technical_email)) - before == 10
    registration.clock.advance(86401)
    with registration.container.unit_of_work() as session:
        registration.service(session).receive_mail(
            token, b"Subject: again\r\n\r\nhello\r\n", envelope_from="x@y.example"
        )
    assert len(registration.mails(FORM.technical_email)) - before == 11
    assert state(registration, submitted) is S.AWAITING_DOCUMENT


def test_two_uploads_of_one_signed_document_at_once_are_accepted_once(
    registration: World,
) -> None:
    submitted = registration.submit()
    token = registration.reply_token()
    signed = registration.signed()
    results: list[bool] = []
    lock = threading.Lock()
    go = threading.Barrier(4)

    def upload() -> None:
        go.wait()
        try:
            with registration.container.unit_of_work() as session:
                accepted = registration.service(session).upload(token, signed, source="t").accepted
        except Exception:  # noqa: BLE001 - a refusal by state is one of the outcomes
            accepted = False
        with lock:
            results.append(accepted)

    threads = [threading.Thread(target=upload) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(results) == [False, False, False, True]
    assert state(registration, submitted) is S.AWAITING_DETAILS
    assert len(registration.mails(FORM.admin_email)) == 1


def test_two_approvals_naming_one_new_administrator_at_once_make_one_person(
    registration: World,
) -> None:
    first = registration.to_awaiting_review()
    other_form = dataclasses.replace(FORM, ura=OTHER_URA, organisation_name="Apotheek Het Anker")
    second_submitted = registration.submit(other_form)
    token = registration.reply_token()
    with registration.container.unit_of_work() as session:
        registration.service(session).upload(
            token,
            registration.signed(issued=registration.other_server),
            source="t",
        )
    details = registration.details_token()
    with registration.container.unit_of_work() as session:
        registration.service(session).confirm_email(details, source="t")
    with registration.container.unit_of_work() as session:
        registration.service(session).give_details(details, DETAILS, source="t")
    outcomes: list[object] = []
    go = threading.Barrier(2)

    def approve(request_id: str) -> None:
        go.wait()
        try:
            with registration.container.unit_of_work() as session:
                registration.service(session).approve(request_id, actor="op", source="t")
        except Exception as error:  # noqa: BLE001 - the outcome is what the test reads
            outcomes.append(error)
        else:
            outcomes.append("approved")

    threads = [
        threading.Thread(target=approve, args=(r,))
        for r in (first.request_id, second_submitted.request_id)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert outcomes == ["approved", "approved"]
    with registration.container.reading() as session:
        people = session.scalars(select(Person).where(Person.email == FORM.admin_email)).all()
        assert len(people) == 1
        roles = session.scalars(select(Membership).where(Membership.person_id == people[0].id))
        assert len(roles.all()) == 2


def test_two_requests_for_one_ura_approved_at_once_give_one_organisation(
    registration: World,
) -> None:
    first = registration.to_awaiting_review()
    second = registration.to_awaiting_review()
    container = registration.container
    outcomes: list[object] = []
    started = threading.Event()

    def approve(request_id: str) -> None:
        started.set()
        try:
            with container.unit_of_work() as session:
                registration.service(session).approve(request_id, actor="op", source="t")
        except Exception as error:  # noqa: BLE001 - the outcome is what the test reads
            outcomes.append(error)
        else:
            outcomes.append("approved")

    # The first approval holds its transaction open until the second has started its own.
    session = container.sessions()
    try:
        registration.service(session).approve(first.request_id, actor="op", source="t")
        other = threading.Thread(target=approve, args=(second.request_id,))
        other.start()
        started.wait()
        other.join(timeout=1)
        session.commit()
    finally:
        session.close()
    other.join(timeout=30)

    assert len(outcomes) == 1
    assert isinstance(outcomes[0], OrganisationExistsError), outcomes
    with container.reading() as reading:
        assert len(reading.scalars(select(Organisation)).all()) == 1
    assert state(registration, second) is S.AWAITING_REVIEW


def test_an_operators_address_as_portal_administrator_is_not_approved(
    registration: World,
) -> None:
    # Approving would mail a fresh activation code for the operator's own account: whoever
    # reads that mailbox would get a device with the operator's powers.
    with registration.container.unit_of_work() as session:
        identity = registration.container.identity(session)
        operator = identity.add_person(
            name="Olga Operator", email=FORM.admin_email, actor="cli", source="cli"
        )
        identity.grant(operator, Role.OPERATOR, organisation=None, actor="cli", source="cli")
    submitted = registration.to_awaiting_review()
    mails_before = len(registration.mails())

    with (
        pytest.raises(AdministratorIsOperatorError) as refused,
        registration.container.unit_of_work() as session,
    ):
        registration.service(session).approve(submitted.request_id, actor="op", source="t")

    assert FORM.admin_email in refused.value.public_message("en")
    assert state(registration, submitted) is S.AWAITING_REVIEW
    assert len(registration.mails()) == mails_before
    with registration.container.reading() as session:
        assert session.scalars(select(Organisation)).all() == []
        assert session.scalars(select(ActivationCode)).all() == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        # Both pass the document's own pattern; mail to the first goes to eve@attacker.example
        # while the back office shows something else, the second is two recipients.
        ("PortaalAdministrator/Email", "Petra<eve@attacker.example>"),
        ("TechnischBeheerder/Email", "it@delinde.example,x"),
        ("PortaalAdministrator/Naam", "Petra <b>de Vries</b>"),
        ("Applicaties/Applicatie", "not-on-the-list"),
    ],
)
def test_signed_values_the_form_would_refuse_are_refused_and_can_be_corrected(
    registration: World, path: str, value: str
) -> None:
    submitted = registration.submit()
    token = registration.reply_token()
    bad = registration.signed(changes={path: value})

    with registration.container.unit_of_work() as session:
        result = registration.service(session).upload(token, bad, source="t")

    assert not result.accepted
    assert isinstance(result.error, DocumentValuesError)
    assert path in result.error.public_message("en")
    row = registration.request(submitted.number)
    assert row.state is S.AWAITING_DOCUMENT
    assert (row.admin_email, row.technical_email) == (FORM.admin_email, FORM.technical_email)
    assert registration.mails(FORM.admin_email) == []
    # The challenge was not spent on a refused document: the corrected one is accepted.
    with registration.container.unit_of_work() as session:
        fixed = registration.service(session).upload(token, registration.signed(), source="t")
    assert fixed.accepted, fixed.error
