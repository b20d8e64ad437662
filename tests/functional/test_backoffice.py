"""The operator's back office over HTTP: the queue, a request's page and decisions, the list of
accepted applications, and the audit trail. Real server, SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from markupsafe import escape
from sqlalchemy import select

from tests.support.portal import browser, portal_session, served
from tests.support.registration import FORM, World, make_world
from tests.support.server import csrf_of
from zorgid.audit.models import AuditEvent
from zorgid.identity.models import Role
from zorgid.registration.models import RegistrationRequest
from zorgid.registration.states import RegistrationState
from zorgid.registration.views import ApplicationForm

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.support.clock import ManualClock
    from tests.support.server import Browser
    from zorgid.registration.views import Submitted
    from zorgid.settings import Settings

S = RegistrationState
EN = {"accept-language": "en"}
APP = {
    "id": "zorgmail-plus",
    "name": "ZorgMail Plus",
    "vendor": 'Vendor "Quoted" & Co',
    "supports": "Logging in with ZORG-ID (OpenID Connect)",
    "website": "https://zorgmail.example.nl",
}


@dataclass
class Office:
    """A served world and the operator's logged-in browser."""

    world: World
    url: str
    operator: Browser
    operator_id: str

    def get(self, path: str) -> str:
        response = self.operator.get(path, headers=EN)
        assert response.status_code == 200, (path, response.status_code, response.text[:500])
        return response.text

    def post(self, page: str, action: str, data: dict[str, str] | None = None) -> tuple[int, str]:
        """Open ``page``, post ``data`` to ``action`` with its token; follow a redirect."""
        csrf = csrf_of(self.get(page))
        response = self.operator.post(action, data={"csrf": csrf, **(data or {})}, headers=EN)
        if response.status_code == 303:
            return 303, self.get(response.headers["location"])
        return response.status_code, response.text

    def state(self, request_id: str) -> RegistrationState:
        with self.world.container.reading() as session:
            row = session.get(RegistrationRequest, request_id)
            assert row is not None
            return row.state

    def audit(self) -> list[AuditEvent]:
        with self.world.container.reading() as session:
            events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
            session.expunge_all()
            return events


@pytest.fixture
def office(settings: Settings, clock: ManualClock, tmp_path: Path) -> Iterator[Office]:
    world = make_world(settings.replace(mail_worker=False), clock, tmp_path)
    try:
        token = portal_session(
            world.container,
            email="olga@zorgid.test",
            roles=[(Role.OPERATOR, None)],
            name="Olga Operator",
        )
        person = asyncio.run(world.container.logins.portal_person(token))
        with served(world.container) as url:
            yield Office(world, url, browser(url, token), person.person_id)
    finally:
        world.container.close()


def page_of(submitted: Submitted) -> str:
    return f"/beheer/aanvragen/{submitted.request_id}"


def buttons(html: str) -> set[str]:
    return set(re.findall(r'<form method="post" action="/beheer/aanvragen/[^"]+" id="(\w+)"', html))


# -- the queue -------------------------------------------------------------------------------


def test_the_queue_lists_requests_with_their_state_and_filters_by_state(office: Office) -> None:
    review = office.world.to_awaiting_review()
    other = ApplicationForm(**{**FORM.__dict__, "ura": "90000456", "organisation_name": "Anker"})
    waiting = office.world.submit(other)
    everything = office.get("/beheer")
    assert review.number in everything
    assert waiting.number in everything
    assert "Waiting for review by the operator" in everything
    assert "Waiting for the signed organisation document" in everything
    only_review = office.get("/beheer?state=awaiting_review")
    assert review.number in only_review
    assert waiting.number not in only_review
    assert 'value="awaiting_review" selected' in only_review
    assert "No requests in this state." in office.get("/beheer?state=rejected")


def test_an_unknown_state_filter_is_a_clear_400(office: Office) -> None:
    response = office.operator.get("/beheer?state=<script>", headers=EN)
    assert response.status_code == 400
    assert "state to filter on is not known" in response.text
    assert "<script>" not in response.text


# -- one request -----------------------------------------------------------------------------


def test_a_request_page_shows_fields_verification_timeline_and_mails(office: Office) -> None:
    review = office.world.to_awaiting_review()
    html = office.get(page_of(review))
    assert review.number in html
    for value in (FORM.organisation_name, FORM.ura, FORM.technical_email, FORM.admin_email):
        assert value in html
    assert "Petra Anna de Vries" in html  # the details the administrator gave
    assert "1980-05-17" in html
    verification = html.split('id="verification"', 1)[1].split("</div>", 1)[0]
    assert "Serial number" in verification
    assert "Signer certificate" in verification
    assert "90000123" in verification
    timeline = html.split('id="timeline"', 1)[1].split("</table>", 1)[0]
    for kind in ("submitted", "mail_out", "document_accepted", "email_confirmed", "details_given"):
        assert f"kind-{kind}" in timeline, kind
    assert "Waiting for the portal administrator&#39;s details → Waiting for review" in timeline
    mails = html.split('id="mails"', 1)[1].split("</table>", 1)[0]
    assert FORM.technical_email in mails
    assert FORM.admin_email in mails
    assert f"onderwerp=registration%3A{review.request_id}" in html


@pytest.mark.parametrize(
    ("stage", "allowed"),
    [
        ("submit", {"reject", "resend"}),
        ("to_awaiting_details", {"reject", "resend"}),
        ("to_awaiting_review", {"approve", "reject"}),
        ("to_approved", {"resend"}),
    ],
)
def test_only_the_actions_the_state_allows_are_offered(
    office: Office, stage: str, allowed: set[str]
) -> None:
    submitted = getattr(office.world, stage)()
    assert buttons(office.get(page_of(submitted))) == allowed


def test_approving_registers_the_organisation_and_says_so(office: Office) -> None:
    review = office.world.to_awaiting_review()
    page = page_of(review)
    status, html = office.post(page, f"{page}/goedkeuren")
    assert status == 303
    assert 'id="done"' in html
    assert "has been e-mailed the activation" in html
    assert office.state(review.request_id) is S.APPROVED
    assert buttons(html) == {"resend"}
    approved = [e for e in office.audit() if e.action == "registration.approved"]
    assert [(e.actor, e.source) for e in approved] == [
        (f"person:{office.operator_id}", "127.0.0.1")
    ]


def test_approving_twice_is_refused_with_the_state_and_changes_nothing(office: Office) -> None:
    review = office.world.to_awaiting_review()
    page = page_of(review)
    csrf = csrf_of(office.get(page))  # two tabs on the same page
    first = office.operator.post(f"{page}/goedkeuren", data={"csrf": csrf})
    assert first.status_code == 303
    second = office.operator.post(f"{page}/goedkeuren", data={"csrf": csrf}, headers=EN)
    assert second.status_code == 409
    assert 'id="action-error"' in second.text
    assert "not possible any more" in second.text
    assert [e.action for e in office.audit()].count("registration.approved") == 1


def test_a_rejection_needs_a_reason_and_keeps_what_was_typed(office: Office) -> None:
    waiting = office.world.submit()
    page = page_of(waiting)
    status, html = office.post(page, f"{page}/afwijzen", {"reason": "   "})
    assert status == 400
    assert 'id="e-reason"' in html
    assert office.state(waiting.request_id) is S.AWAITING_DOCUMENT
    status, html = office.post(page, f"{page}/afwijzen", {"reason": "x" * 1001})
    assert status == 400
    assert "x" * 1001 in html  # kept, to shorten rather than retype
    status, html = office.post(page, f"{page}/afwijzen", {"reason": "<b>URA</b> onbekend"})
    assert status == 400  # the organisation reads it in an e-mail: no markup
    assert "&lt;b&gt;URA&lt;/b&gt; onbekend" in html
    status, html = office.post(page, f"{page}/afwijzen", {"reason": 'URA "onbekend" & fout'})
    assert status == 303
    assert "URA &#34;onbekend&#34; &amp; fout" in html
    assert office.state(waiting.request_id) is S.REJECTED
    assert buttons(html) == set()


def test_resending_sends_new_links_and_says_so(office: Office) -> None:
    waiting = office.world.submit()
    old = office.world.reply_token()
    page = page_of(waiting)
    status, html = office.post(page, f"{page}/opnieuw-versturen")
    assert status == 303
    assert "sent again" in html
    assert office.world.reply_token() != old
    assert office.operator.get(f"/aanvraag/{old}").status_code == 404


@pytest.mark.parametrize("request_id", ["nope", "A" * 22, "%2e%2e", "x" * 64])
def test_an_unknown_request_is_a_404(office: Office, request_id: str) -> None:
    page = office.operator.get(f"/beheer/aanvragen/{request_id}", headers=EN)
    assert page.status_code == 404
    csrf = csrf_of(office.get("/beheer"))
    for action in ("goedkeuren", "afwijzen", "opnieuw-versturen"):
        response = office.operator.post(
            f"/beheer/aanvragen/{request_id}/{action}", data={"csrf": csrf, "reason": "r"}
        )
        assert response.status_code == 404, action
    assert office.operator.get(f"/beheer/aanvragen/{'x' * 65}").status_code == 400


# -- accepted applications -------------------------------------------------------------------


def test_an_added_application_appears_on_the_public_page_and_in_json(office: Office) -> None:
    status, html = office.post("/beheer/toepassingen", "/beheer/toepassingen", APP)
    assert status == 303
    assert "was added" in html
    public = browser(office.url).get("/toepassingen")
    assert public.status_code == 200
    assert "ZorgMail Plus" in public.text
    assert "Vendor &#34;Quoted&#34; &amp; Co" in public.text
    assert 'href="https://zorgmail.example.nl"' in public.text
    listed = browser(office.url).get("/api/toepassingen").json()["applications"]
    assert {"id": "zorgmail-plus", **{k: v for k, v in APP.items() if k != "id"}} in listed
    assert [a["id"] for a in listed] == ["example-his", "zorgmail-plus"]  # by name
    event = office.audit()[-1]
    assert (event.action, event.actor) == ("application.added", f"person:{office.operator_id}")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id": "Not A Slug!"}, "id"),
        ({"id": ""}, "id"),
        ({"name": ""}, "name"),
        ({"vendor": "x" * 201}, "vendor"),
        ({"supports": ""}, "supports"),
        ({"website": "javascript:alert(1)"}, "website"),
        ({"website": "http://zorgmail.example.nl"}, "website"),
    ],
)
def test_a_bad_application_is_refused_per_field_keeping_the_form(
    office: Office, changes: dict[str, str], field: str
) -> None:
    data = {**APP, **changes}
    status, html = office.post("/beheer/toepassingen", "/beheer/toepassingen", data)
    assert status == 400
    assert f'id="e-{field}"' in html
    kept = data["name"] if field != "name" else data["vendor"]
    assert f'value="{escape(kept)}"' in html
    assert "zorgmail" not in browser(office.url).get("/api/toepassingen").text


def test_an_id_in_use_is_a_409_on_the_id_field(office: Office) -> None:
    status, html = office.post(
        "/beheer/toepassingen", "/beheer/toepassingen", {**APP, "id": "example-his"}
    )
    assert status == 409
    assert 'id="e-id"' in html
    assert "exists already" in html


def test_changing_and_withdrawing_an_application(office: Office) -> None:
    page = "/beheer/toepassingen/example-his"
    status, html = office.post(page, page, {**APP, "name": "Voorbeeld HIS 2"})
    assert status == 303
    assert "was changed" in html
    assert 'value="Voorbeeld HIS 2"' in html
    status, html = office.post(page, page, {**APP, "website": "ftp://x"})
    assert status == 400
    assert 'value="ftp://x"' in html
    status, html = office.post(page, f"{page}/intrekken")
    assert status == 303
    assert "no longer on the public list" in html
    assert browser(office.url).get("/api/toepassingen").json() == {"applications": []}
    assert "Voorbeeld HIS" not in browser(office.url).get("/toepassingen").text
    assert 'id="change-form"' not in office.get(page)
    csrf = csrf_of(office.get("/beheer/toepassingen"))
    again = office.operator.post(page, data={"csrf": csrf, **APP}, headers=EN)
    assert again.status_code == 409
    twice = office.operator.post(f"{page}/intrekken", data={"csrf": csrf}, headers=EN)
    assert twice.status_code == 409
    assert "application_withdrawn" in twice.text


def test_an_unknown_application_is_a_404(office: Office) -> None:
    assert office.operator.get("/beheer/toepassingen/nope").status_code == 404
    csrf = csrf_of(office.get("/beheer/toepassingen"))
    response = office.operator.post("/beheer/toepassingen/nope", data={"csrf": csrf, **APP})
    assert response.status_code == 404
    response = office.operator.post("/beheer/toepassingen/nope/intrekken", data={"csrf": csrf})
    assert response.status_code == 404


# -- the audit trail -------------------------------------------------------------------------


def test_the_audit_trail_is_newest_first_and_pages_without_gaps(office: Office) -> None:
    with office.world.container.unit_of_work() as session:
        for n in range(60):
            office.world.container.applications(session).add(
                f"app-{n:02d}", f"App {n}", "V", "Logging in", "", actor="cli", source="cli"
            )
    total = len(office.audit())
    first = office.get("/beheer/audit")
    seqs = [int(s) for s in re.findall(r'<tr id="event-(\d+)">', first)]
    assert len(seqs) == 50
    assert seqs == sorted(seqs, reverse=True)
    assert seqs[0] == total
    older = re.search(r'href="([^"]+)" id="older"', first)
    assert older
    second = office.get(older.group(1).replace("&amp;", "&"))
    rest = [int(s) for s in re.findall(r'<tr id="event-(\d+)">', second)]
    assert seqs + rest == list(range(total, 0, -1))
    assert 'id="older"' not in second
    assert 'id="newest"' in second


def test_the_audit_trail_of_one_request(office: Office) -> None:
    review = office.world.to_awaiting_review()
    office.world.submit()
    html = office.get(f"/beheer/audit?onderwerp=registration:{review.request_id}")
    actions = re.findall(r"<td>(registration\.[a-z_]+)</td>", html)
    assert actions == [
        "registration.details_given",
        "registration.email_confirmed",
        "registration.document_accepted",
        "registration.submitted",
    ]


@pytest.mark.parametrize(
    "query", ["voor=abc", "voor=-1", "voor=99999999999999999999", "onderwerp=" + "x" * 200]
)
def test_bad_audit_queries_are_a_400(office: Office, query: str) -> None:
    response = office.operator.get(f"/beheer/audit?{query}", headers=EN)
    assert response.status_code == 400
    assert "The request is not valid" in response.text
