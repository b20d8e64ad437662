"""The public form cannot be used to mail anyone anything (issue 11, finding 4), in the service.

Names carry no links or addresses; per day only a few requests may mail one address or name one
URA, counted in the database in the submit's own transaction (exact when many submit at once);
the first mail says who asked and what to do if it was not the reader. SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.support.clock import START
from tests.support.registration import FORM, World, body
from zorgid.mail.models import MailQuota as QuotaRow
from zorgid.mail.models import OutboxMessage
from zorgid.registration.errors import FormInvalidError, MailLimitError
from zorgid.registration.models import RegistrationEvent as TimelineRow
from zorgid.registration.models import RegistrationRequest
from zorgid.registration.views import ApplicationForm, Submitted
from zorgid.settings import Settings, SettingsError, from_environment

DAY = 86400.0
VICTIM = "slachtoffer@ziekenhuis.example"
#: The issue's own example: a phishing text as the organisation's name.
PHISHING = "Uw account is geblokkeerd: bel 0900-1234 of ga naar https://evil.example/login"
LEGITIMATE = [
    "Huisartsenpraktijk 't Hoekje B.V.",
    "Zorggroep St. Jansdal",
    "Apotheek De Vries B.V. Amsterdam",
    "Tandartsenpraktijk Van der Berg & Zn.",
    "Fysiotherapie 2000",
    "Gezondheidscentrum Noord-Oost",
    "Maison Médicale Érasme",
    "Huisartspraktijk Dokter Ö. Y\u0131lmaz",  # a dotless i, as in Turkish names
    "Zorg@Home B.V.",
    "Verpleeghuis St.-Jozef (locatie 2)",
]


def form(number: int, **changes: Any) -> ApplicationForm:
    """The form with its own URA and addresses (number ``number``), changed as told."""
    own = dataclasses.replace(
        FORM,
        ura=f"9{number:07d}",
        technical_email=f"it{number}@praktijk.example",
        admin_email=f"beheer{number}@praktijk.example",
    )
    return dataclasses.replace(own, **changes)


def count(world: World, model: type[RegistrationRequest | OutboxMessage | TimelineRow]) -> int:
    with world.container.reading() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def mails_to(world: World, address: str) -> int:
    with world.container.reading() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.recipient == address)
            )
            or 0
        )


# -- names -----------------------------------------------------------------------------------


def test_the_issues_phishing_name_is_refused_and_nothing_is_mailed(registration: World) -> None:
    with pytest.raises(FormInvalidError) as refused:
        registration.submit(form(1, organisation_name=PHISHING, technical_email=VICTIM))
    assert set(refused.value.problems) == {"organisation_name"}
    assert "not allowed" in str(refused.value.problems["organisation_name"])
    assert count(registration, RegistrationRequest) == 0
    assert count(registration, OutboxMessage) == 0


@pytest.mark.parametrize(
    "field", ["organisation_name", "technical_name", "admin_name"], ids=lambda f: f
)
def test_every_name_refuses_links_and_addresses(registration: World, field: str) -> None:
    for number, text in enumerate(["evil.example/login", "www.evil.nl", "hulp@evil.nl"]):
        with pytest.raises(FormInvalidError) as refused:
            registration.submit(form(number, **{field: text}))
        assert set(refused.value.problems) == {field}
    assert count(registration, OutboxMessage) == 0


def test_legitimate_dutch_names_are_accepted(registration: World) -> None:
    for number, name in enumerate(LEGITIMATE):
        registration.submit(form(number, organisation_name=name, admin_name=name))
    assert count(registration, RegistrationRequest) == len(LEGITIMATE)


# -- daily limits ----------------------------------------------------------------------------


def test_a_few_requests_a_day_may_mail_one_address_then_nothing_is_written(
    registration: World,
) -> None:
    for number in range(3):
        registration.submit(form(number, technical_email=VICTIM))
    with pytest.raises(MailLimitError) as refused:
        registration.submit(form(3, technical_email=VICTIM))
    message = refused.value.public_message("en")
    assert "this e-mail address or this URA number" in message
    assert VICTIM not in message  # nothing said about whose address or how many
    assert "3" not in message
    assert mails_to(registration, VICTIM) == 3
    assert count(registration, RegistrationRequest) == 3
    assert count(registration, TimelineRow) == 6  # submitted + mail_out, three times
    # The same address in upper case is the same address.
    with pytest.raises(MailLimitError):
        registration.submit(form(4, technical_email=VICTIM.upper()))
    # Another address is not affected, and the next day (UTC) the address may be mailed again.
    registration.submit(form(5))
    registration.clock.advance(DAY)
    registration.submit(form(6, technical_email=VICTIM))
    assert mails_to(registration, VICTIM) == 4


def test_a_few_requests_a_day_may_name_one_ura(registration: World) -> None:
    for number in range(3):
        registration.submit(form(number, ura=FORM.ura))
    with pytest.raises(MailLimitError):
        registration.submit(form(3, ura=FORM.ura))
    assert count(registration, RegistrationRequest) == 3
    assert mails_to(registration, form(3).technical_email) == 0


def test_a_refused_form_uses_up_nothing_of_the_limit(registration: World) -> None:
    for _ in range(5):
        with pytest.raises(FormInvalidError):
            registration.submit(form(1, technical_email=VICTIM, organisation_name="x.nl/y"))
    for number in range(3):
        registration.submit(form(number, technical_email=VICTIM))
    with pytest.raises(MailLimitError):
        registration.submit(form(9, technical_email=VICTIM))


def test_the_limits_are_settings_and_0_means_none(registration: World) -> None:
    settings = registration.container.settings
    assert (settings.mails_per_recipient_per_day, settings.mails_per_ura_per_day) == (3, 3)
    registration.container.settings = settings.replace(
        mails_per_recipient_per_day=0, mails_per_ura_per_day=1
    )
    for number in range(5):
        registration.submit(form(number, technical_email=VICTIM))
    assert mails_to(registration, VICTIM) == 5
    with pytest.raises(MailLimitError):
        registration.submit(form(0))  # its URA was named once today already


def test_many_submits_at_once_for_one_address_mail_it_exactly_the_limit(
    registration: World,
) -> None:
    attempts = 12
    start = threading.Barrier(attempts)

    def submit(number: int) -> Submitted | MailLimitError:
        start.wait()
        try:
            return registration.submit(form(number, technical_email=VICTIM))
        except MailLimitError as refused:
            return refused

    with ThreadPoolExecutor(attempts) as pool:
        outcomes = list(pool.map(submit, range(attempts)))
    assert sum(isinstance(o, Submitted) for o in outcomes) == 3
    assert sum(isinstance(o, MailLimitError) for o in outcomes) == attempts - 3
    assert mails_to(registration, VICTIM) == 3
    assert count(registration, RegistrationRequest) == 3
    with registration.container.reading() as session:
        counts = session.scalars(select(QuotaRow.count).where(QuotaRow.key.like("recipient:%")))
        assert sorted(counts) == [3]


def test_counts_of_past_days_are_purged(registration: World) -> None:
    registration.submit(form(1))
    registration.clock.advance(3 * DAY)
    registration.container.purge_expired()
    with registration.container.reading() as session:
        assert session.scalar(select(func.count()).select_from(QuotaRow)) == 0


# -- the first mail --------------------------------------------------------------------------


def test_the_first_mail_says_who_asked_when_and_what_to_do_if_it_was_not_you(
    registration: World,
) -> None:
    registration.container.settings = registration.container.settings.replace(
        contact="servicedesk@zorgid.example"
    )
    registration.submit(form(1))
    text = " ".join(body(registration.last_request_mail(form(1).technical_email)).split())
    dutch, english = text.split("--- English ---")
    asked = START.strftime("%Y-%m-%d %H:%M UTC")
    assert f"Op {asked} heeft iemand via het openbare formulier van ZORG-ID" in dutch
    assert "https://zorgid.test/aanvraag" in dutch
    assert "Dan kunt u hem negeren: er gebeurt niets" in dutch
    assert "servicedesk@zorgid.example" in dutch
    assert f"On {asked} someone asked on the public form of ZORG-ID" in english
    assert "Then you can ignore it: nothing happens" in english
    assert "contact servicedesk@zorgid.example" in english
    # Of what was typed only the checked name and the URA come back, not the other names.
    assert FORM.organisation_name in english
    assert FORM.admin_name not in text
    assert FORM.technical_name not in text


def test_without_a_contact_setting_the_mail_names_the_service(registration: World) -> None:
    assert Settings().contact == ""
    registration.submit(form(1))
    text = " ".join(body(registration.last_request_mail(form(1).technical_email)).split())
    assert "contact https://zorgid.test." in text


def test_the_limits_and_the_proof_of_work_are_read_from_the_environment() -> None:
    read = from_environment(
        {
            "ZORGID_MAILS_PER_RECIPIENT_PER_DAY": "5",
            "ZORGID_MAILS_PER_URA_PER_DAY": "0",
            "ZORGID_PROOF_OF_WORK_COST": "20000",
            "ZORGID_CONTACT": "servicedesk@zorgid.example",
        }
    )
    assert read.mails_per_recipient_per_day == 5
    assert read.mails_per_ura_per_day == 0
    assert read.proof_of_work_cost == 20000
    assert read.contact == "servicedesk@zorgid.example"
    for name in ("ZORGID_PROOF_OF_WORK_COST", "ZORGID_PROOF_OF_WORK_SECONDS"):
        with pytest.raises(SettingsError) as refused:
            from_environment({name: "0"})
        assert name in refused.value.public_message("en")
