"""The public registration pages as the organisation uses them, over HTTP on the real server.

The technical administrator fills in the form, opens the link from the request e-mail, uploads
the signed document (or a wrong one, or far too much) or withdraws; the portal administrator
confirms their address and gives their details. Bad input of every kind gets a 4xx page that
says what is wrong, keeps what was typed, and changes nothing. SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, select

from tests.support.portal import browser, served
from tests.support.proofofwork import solved
from tests.support.registration import FORM, World, make_world
from tests.support.server import csrf_of
from tests.support.site import FORM_POST
from zorgid.registration.models import RegistrationRequest
from zorgid.registration.states import RegistrationState

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.support.clock import ManualClock
    from tests.support.server import Browser
    from zorgid.settings import Settings

S = RegistrationState
EN = {"accept-language": "en"}
DETAILS = {"full_name": "Petra Anna de Vries", "birth_date": "1980-05-17", "phone": "+31612345678"}


@dataclass
class Site:
    world: World
    url: str

    def browser(self) -> Browser:
        return browser(self.url)

    def requests(self) -> int:
        with self.world.container.reading() as session:
            return session.scalar(select(func.count()).select_from(RegistrationRequest)) or 0

    def state(self, number: str) -> RegistrationState:
        return self.world.request(number).state


@pytest.fixture
def site(settings: Settings, clock: ManualClock, tmp_path: Path) -> Iterator[Site]:
    # A cheaper proof of work than the default (test_proof_of_work checks that one): these
    # tests solve one for every form they send.
    world = make_world(settings.replace(mail_worker=False, proof_of_work_cost=200), clock, tmp_path)
    try:
        with served(world.container) as url:
            yield Site(world, url)
    finally:
        world.container.close()


def number_on(html: str) -> str:
    found = re.search(r'id="number">([^<]+)<', html)
    assert found, html[:2000]
    return found.group(1)


def apply(site: Site, opened: Browser | None = None, **changes: str) -> tuple[Browser, str]:
    """Open the form, fill it in (with ``changes``) and send it; the browser and the answer."""
    opened = opened or site.browser()
    form = opened.get("/aanvraag", headers=EN)
    assert form.status_code == 200
    response = opened.post(
        "/aanvraag",
        data={"csrf": csrf_of(form.text), "altcha": solved(opened), **FORM_POST, **changes},
        headers=EN,
    )
    return opened, response.text if response.status_code == 200 else f"{response.status_code}"


# -- the application form -------------------------------------------------------------------


def test_the_form_lists_the_accepted_applications_and_sets_a_strict_cookie(site: Site) -> None:
    opened = site.browser()
    page = opened.get("/aanvraag")
    assert page.status_code == 200
    assert '<html lang="nl">' in page.text
    assert 'name="applications" value="example-his"' in page.text
    assert "Voorbeeld HIS" in page.text
    raw = opened.flags["zorgid_form"].lower()
    assert "httponly" in raw
    assert "samesite=strict" in raw
    assert "path=/aanvraag" in raw


def test_a_good_application_shows_the_number_and_says_to_check_the_mail(site: Site) -> None:
    opened, text = apply(site)
    number = number_on(text)
    assert re.fullmatch(r"ZID-\d{4}-\d{6}", number)
    assert FORM.technical_email in text
    assert "Check your e-mail" in text
    assert site.state(number) is S.AWAITING_DOCUMENT
    assert number in str(site.world.last_request_mail()["Subject"])
    # Reloading the answer page (the POST again) does not make a second request.
    again = opened.post("/aanvraag", data={"csrf": "whatever", **FORM_POST})
    assert again.status_code == 403
    assert site.requests() == 1


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"ura": "1234"}, "ura", "exactly 8 digits"),
        ({"ura": "9000012a"}, "ura", "exactly 8 digits"),
        ({"technical_email": "not-an-address"}, "technical_email", "valid e-mail address"),
        ({"admin_email": "a@b"}, "admin_email", "valid e-mail address"),
        ({"applications": "no-such-app"}, "applications", "no-such-app is not an accepted"),
        ({"applications": ""}, "applications", "at least one application"),
        ({"organisation_name": ""}, "organisation_name", "at most 200 letters"),
        ({"admin_name": "<script>alert(1)</script>"}, "admin_name", "without &lt; or &gt;"),
        ({"technical_name": "x" * 300}, "technical_name", "at most 200 letters"),
        (
            {
                "organisation_name": (
                    "Uw account is geblokkeerd: bel 0900-1234 of ga naar https://evil.example/login"
                )
            },
            "organisation_name",
            "e-mail addresses are not allowed",
        ),
        ({"organisation_name": "ga naar evil.example/login"}, "organisation_name", "not allowed"),
        ({"technical_name": "Bel ons: www . evil . nl"}, "technical_name", "not allowed"),
        ({"admin_name": "mail help [at] evil.nl"}, "admin_name", "not allowed"),
    ],
)
def test_bad_fields_are_named_the_typed_values_kept_and_nothing_stored(
    site: Site, changes: dict[str, str], field: str, message: str
) -> None:
    opened = site.browser()
    form = opened.get("/aanvraag", headers=EN)
    response = opened.post(
        "/aanvraag",
        data={"csrf": csrf_of(form.text), "altcha": solved(opened), **FORM_POST, **changes},
        headers=EN,
    )
    assert response.status_code == 400
    problem = re.search(rf'<p class="error" id="e-{field}">([^<]*)</p>', response.text)
    assert problem, response.text
    assert message in problem.group(1)
    assert f'id="f-{field}"' in response.text
    # What was typed is still there (escaped), so nothing has to be typed twice.
    assert f'value="{FORM.organisation_name}"' in response.text or field == "organisation_name"
    assert "<script>alert" not in response.text
    assert site.requests() == 0


def test_a_form_missing_every_field_says_so_field_by_field(site: Site) -> None:
    opened = site.browser()
    form = opened.get("/aanvraag", headers=EN)
    response = opened.post(
        "/aanvraag", data={"csrf": csrf_of(form.text), "altcha": solved(opened)}, headers=EN
    )
    assert response.status_code == 400
    for field in (*(f for f in FORM_POST if f != "applications"), "applications"):
        assert f'id="e-{field}"' in response.text, field
    assert site.requests() == 0


def test_a_form_without_its_csrf_token_or_cookie_is_refused(site: Site) -> None:
    opened = site.browser()
    form = opened.get("/aanvraag")
    no_token = opened.post("/aanvraag", data=FORM_POST)
    assert no_token.status_code == 403
    assert "csrf_invalid" in no_token.text
    stranger = site.browser()  # another browser, with the first one's token but no cookie
    assert (
        stranger.post("/aanvraag", data={"csrf": csrf_of(form.text), **FORM_POST}).status_code
        == 403
    )
    assert site.requests() == 0


def test_an_oversized_or_strange_form_gets_a_4xx_not_a_500(site: Site) -> None:
    opened = site.browser()
    csrf = csrf_of(opened.get("/aanvraag").text)
    huge = opened.post("/aanvraag", data={"csrf": csrf, "ura": "1" * 100_000})
    assert huge.status_code == 413
    as_json = opened.post("/aanvraag", json={"csrf": csrf, **FORM_POST})
    assert as_json.status_code == 403  # no form at all: no token either
    broken = opened.post(
        "/aanvraag",
        content=b"--x\r\nContent-Disposition: form-data\r\n\r\n",
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    assert 400 <= broken.status_code < 500
    assert site.requests() == 0


# -- the request's page: upload and withdraw -------------------------------------------------


def submitted(site: Site) -> tuple[str, str]:
    """A request made through the form: its number and the token of its e-mailed link."""
    _, text = apply(site)
    return number_on(text), site.world.reply_token()


def upload(
    site: Site, token: str, data: bytes | None, *, csrf: str | None = None
) -> tuple[int, str]:
    opened = site.browser()
    page = opened.get(f"/aanvraag/{token}", headers=EN)
    files = {"document": ("signed.xml", data, "application/xml")} if data is not None else None
    response = opened.post(
        f"/aanvraag/{token}/document",
        data={"csrf": csrf if csrf is not None else csrf_of(page.text)},
        files=files,
        headers=EN,
    )
    if response.status_code == 303:
        response = opened.get(response.headers["location"], headers=EN)
        assert response.status_code == 200
        return 303, response.text
    return response.status_code, response.text


def test_the_request_page_shows_the_number_organisation_and_state(site: Site) -> None:
    number, token = submitted(site)
    page = site.browser().get(f"/aanvraag/{token}", headers=EN)
    assert page.status_code == 200
    assert number_on(page.text) == number
    assert FORM.organisation_name in page.text
    assert "Waiting for the signed organisation document" in page.text
    assert 'enctype="multipart/form-data"' in page.text
    assert 'type="file"' in page.text


def test_the_signed_document_is_accepted_by_upload(site: Site) -> None:
    number, token = submitted(site)
    status, text = upload(site, token, site.world.signed())
    assert status == 303
    assert "has been accepted" in text
    assert "Waiting for the portal administrator" in text
    assert 'type="file"' not in text
    assert site.state(number) is S.AWAITING_DETAILS


def test_a_refused_document_shows_the_verifiers_message_and_what_to_do(site: Site) -> None:
    number, token = submitted(site)
    wrong = site.world.signed(issued=site.world.other_server)  # another organisation's key
    status, text = upload(site, token, wrong)
    assert status == 422
    assert 'id="upload-message"' in text
    assert "What to do" in text
    assert re.search(r"<code>[a-z_]+</code>", text)
    assert site.state(number) is S.AWAITING_DOCUMENT
    assert 'type="file"' in text  # they can try again at once


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (b"x" * (600 * 1024), 413, "larger than 256 KiB"),
        (None, 400, "Choose the signed organisation document"),
        (b"", 400, "Choose the signed organisation document"),
        (b"<not xml", 422, "not accepted"),
        (b"<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><x>&e;</x>", 422, "not accepted"),
    ],
)
def test_bad_uploads_are_refused_with_a_clear_message(
    site: Site, data: bytes | None, status: int, message: str
) -> None:
    number, token = submitted(site)
    got, text = upload(site, token, data)
    assert got == status
    assert message in text
    assert "root:" not in text
    assert site.state(number) is S.AWAITING_DOCUMENT


def test_an_upload_without_its_csrf_token_is_refused(site: Site) -> None:
    number, token = submitted(site)
    status, text = upload(site, token, site.world.signed(), csrf="forged")
    assert status == 403
    assert "csrf_invalid" in text
    assert site.state(number) is S.AWAITING_DOCUMENT


@pytest.mark.parametrize("path", ["/aanvraag/{}", "/aanvraag/{}/intrekken", "/gegevens/{}"])
@pytest.mark.parametrize("token", ["a" * 32, "nonsense", "%00%0d%0a", "x" * 199])
def test_a_wrong_token_gets_a_404_that_says_to_use_the_latest_mail(
    site: Site, path: str, token: str
) -> None:
    response = site.browser().get(path.format(token), headers=EN)
    assert response.status_code == 404
    assert "latest e-mail" in response.text
    assert "registration_unknown" in response.text


def test_posts_with_a_wrong_token_get_a_4xx(site: Site) -> None:
    opened = site.browser()
    for path in ("/aanvraag/{}/intrekken", "/aanvraag/{}/document", "/gegevens/{}/bevestigen"):
        response = opened.post(path.format("a" * 32), data={"csrf": "x"})
        assert 400 <= response.status_code < 500, path


def test_withdrawing_asks_first_and_then_stops_the_request(site: Site) -> None:
    number, token = submitted(site)
    opened = site.browser()
    page = opened.get(f"/aanvraag/{token}", headers=EN)
    assert f'href="/aanvraag/{token}/intrekken"' in page.text
    ask = opened.get(f"/aanvraag/{token}/intrekken", headers=EN)
    assert ask.status_code == 200
    assert "Yes, withdraw the request" in ask.text
    assert site.state(number) is S.AWAITING_DOCUMENT  # looking changes nothing
    done = opened.post(f"/aanvraag/{token}/intrekken", data={"csrf": csrf_of(ask.text)})
    assert done.status_code == 303
    after = opened.get(done.headers["location"], headers=EN)
    assert "has been withdrawn" in after.text
    assert 'type="file"' not in after.text
    assert "intrekken" not in after.text
    assert site.state(number) is S.WITHDRAWN
    again = opened.post(f"/aanvraag/{token}/intrekken", data={"csrf": csrf_of(ask.text)})
    assert again.status_code == 409


# -- the portal administrator's details ------------------------------------------------------


def awaiting_details(site: Site) -> tuple[str, str]:
    number, token = submitted(site)
    status, _ = upload(site, token, site.world.signed())
    assert status == 303
    return number, site.world.details_token()


def test_opening_the_link_confirms_nothing_until_the_button_is_pressed(site: Site) -> None:
    number, token = awaiting_details(site)
    opened = site.browser()
    page = opened.get(f"/gegevens/{token}", headers=EN)
    assert page.status_code == 200
    assert "Confirm your e-mail address" in page.text
    assert FORM.admin_email in page.text
    assert 'id="details-form"' not in page.text
    assert site.world.request(number).admin_email_confirmed_at is None
    # Straight to the details without confirming: refused, nothing kept.
    early = opened.post(f"/gegevens/{token}", data={"csrf": csrf_of(page.text), **DETAILS})
    assert early.status_code == 409
    assert site.world.request(number).admin_birth_date is None


def test_the_administrator_confirms_gives_details_and_is_thanked(site: Site) -> None:
    number, token = awaiting_details(site)
    opened = site.browser()
    page = opened.get(f"/gegevens/{token}", headers=EN)
    confirmed = opened.post(f"/gegevens/{token}/bevestigen", data={"csrf": csrf_of(page.text)})
    assert confirmed.status_code == 303
    form = opened.get(f"/gegevens/{token}", headers=EN)
    assert 'id="details-form"' in form.text
    assert 'type="date"' in form.text
    sent = opened.post(f"/gegevens/{token}", data={"csrf": csrf_of(form.text), **DETAILS})
    assert sent.status_code == 303
    thanks = opened.get(sent.headers["location"], headers=EN)
    assert 'id="thanks"' in thanks.text
    assert site.state(number) is S.AWAITING_REVIEW


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"birth_date": "17-05-1980"}, "birth_date", "YYYY-MM-DD"),
        ({"birth_date": "1880-05-17"}, "birth_date", "cannot be right"),
        ({"phone": "call me"}, "phone", "6 to 15 digits"),
        ({"full_name": ""}, "full_name", "full name"),
        ({"full_name": "Petra via evil(.)nl/login"}, "full_name", "not allowed"),
    ],
)
def test_bad_details_are_named_and_the_typed_values_kept(
    site: Site, changes: dict[str, str], field: str, message: str
) -> None:
    number, token = awaiting_details(site)
    opened = site.browser()
    page = opened.get(f"/gegevens/{token}")
    opened.post(f"/gegevens/{token}/bevestigen", data={"csrf": csrf_of(page.text)})
    sent = opened.post(
        f"/gegevens/{token}", data={"csrf": csrf_of(page.text), **DETAILS, **changes}, headers=EN
    )
    assert sent.status_code == 400
    problem = re.search(rf'<p class="error" id="e-{field}">([^<]*)</p>', sent.text)
    assert problem, sent.text
    assert message in problem.group(1)
    for name, value in {**DETAILS, **changes}.items():
        assert f'name="{name}" type="' in sent.text
        assert f'value="{value}"' in sent.text
    assert site.state(number) is S.AWAITING_DETAILS


def test_details_without_the_csrf_token_are_refused(site: Site) -> None:
    number, token = awaiting_details(site)
    opened = site.browser()
    assert opened.post(f"/gegevens/{token}/bevestigen", data={}).status_code == 403
    assert site.world.request(number).admin_email_confirmed_at is None
