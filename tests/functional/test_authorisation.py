"""Who may open the back office: every route against every kind of visitor, over HTTP.

The matrix: each back-office route (GET and POST) for a visitor who is not logged in, for
healthcare workers, beheerders and administrators of an organisation, and for the operator. Only
the operator gets through; the others get 401 (a page that says to log in) or 403 (a page that
says the page is for the operator), and nothing they post changes anything. A route added under
``/beheer`` without a line here fails :func:`test_the_matrix_covers_every_back_office_route`.
Runs against the real server on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from tests.support.portal import browser, portal_session, served
from tests.support.registration import World, make_world
from tests.support.server import csrf_of
from zorgid.audit.models import AuditEvent
from zorgid.identity.models import Role
from zorgid.registration.models import RegistrationRequest
from zorgid.registration.states import RegistrationState
from zorgid.web.app import create_app

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.support.clock import ManualClock
    from tests.support.server import Browser
    from zorgid.settings import Settings

ORG_A = ("90000123", "Huisartsenpraktijk De Linde")
ORG_B = ("90000999", "Apotheek Het Anker")
VISITORS: dict[str, list[tuple[Role, tuple[str, str] | None]] | None] = {
    "anonymous": None,
    "gebruiker of A": [(Role.GEBRUIKER, ORG_A)],
    "beheerder of A": [(Role.BEHEERDER, ORG_A)],
    "administrator of A and B": [(Role.ADMINISTRATOR, ORG_A), (Role.ADMINISTRATOR, ORG_B)],
    "operator": [(Role.OPERATOR, None)],
}


@dataclass(frozen=True)
class Route:
    """One back-office route as the matrix calls it, and what the operator gets."""

    method: str
    template: str  # the path as the router declares it
    path: str  # the path called, placeholders filled
    data: dict[str, str]
    operator_status: int


@dataclass
class Site:
    """A served world with a request under review, one waiting for its document, two apps."""

    world: World
    url: str
    review_id: str
    waiting_id: str


@pytest.fixture
def site(settings: Settings, clock: ManualClock, tmp_path: Path) -> Iterator[Site]:
    world = make_world(settings.replace(mail_worker=False), clock, tmp_path)
    try:
        review = world.to_awaiting_review()
        waiting = world.submit()
        with world.container.unit_of_work() as session:
            world.container.applications(session).add(
                "second-app", "Second", "Vendor", "Logging in", "", actor="cli", source="cli"
            )
        with served(world.container) as url:
            yield Site(world, url, review.request_id, waiting.request_id)
    finally:
        world.container.close()


def routes(site: Site) -> list[Route]:
    """Every back-office route; the operator's posts are in an order that lets each succeed."""
    review, waiting = site.review_id, site.waiting_id
    return [
        Route("GET", "/beheer", "/beheer", {}, 200),
        Route("GET", "/beheer", "/beheer?state=awaiting_review", {}, 200),
        Route("GET", "/beheer/aanvragen/{request_id}", f"/beheer/aanvragen/{review}", {}, 200),
        Route("GET", "/beheer/toepassingen", "/beheer/toepassingen", {}, 200),
        Route(
            "GET",
            "/beheer/toepassingen/{application_id}",
            "/beheer/toepassingen/example-his",
            {},
            200,
        ),
        Route("GET", "/beheer/audit", "/beheer/audit", {}, 200),
        Route("GET", "/beheer/audit", "/beheer/audit?onderwerp=application:second-app", {}, 200),
        Route(
            "POST",
            "/beheer/aanvragen/{request_id}/opnieuw-versturen",
            f"/beheer/aanvragen/{waiting}/opnieuw-versturen",
            {},
            303,
        ),
        Route(
            "POST",
            "/beheer/aanvragen/{request_id}/afwijzen",
            f"/beheer/aanvragen/{waiting}/afwijzen",
            {"reason": "Onbekende organisatie."},
            303,
        ),
        Route(
            "POST",
            "/beheer/aanvragen/{request_id}/goedkeuren",
            f"/beheer/aanvragen/{review}/goedkeuren",
            {},
            303,
        ),
        Route(
            "POST",
            "/beheer/toepassingen",
            "/beheer/toepassingen",
            {
                "id": "new-app",
                "name": "New",
                "vendor": "Vendor",
                "supports": "Logging in",
                "website": "",
            },
            303,
        ),
        Route(
            "POST",
            "/beheer/toepassingen/{application_id}",
            "/beheer/toepassingen/example-his",
            {"name": "Changed", "vendor": "Vendor", "supports": "Logging in", "website": ""},
            303,
        ),
        Route(
            "POST",
            "/beheer/toepassingen/{application_id}/intrekken",
            "/beheer/toepassingen/second-app/intrekken",
            {},
            303,
        ),
    ]


def visit(site: Site, who: str) -> tuple[Browser, str]:
    """A browser for ``who`` and a CSRF token that is valid for its own session."""
    roles = VISITORS[who]
    if roles is None:
        opened = browser(site.url)
    else:
        email = who.split(maxsplit=1)[0] + "@zorgid.test"
        token = portal_session(site.world.container, email=email, roles=roles, name=who.title())
        opened = browser(site.url, token)
    # Logged in, the portal's home page holds the session's token (its logout form); a visitor
    # who is not logged in gets the login page's. Either is genuine: only the role may refuse.
    return opened, csrf_of(opened.get("/").text)


def call(opened: Browser, route: Route, csrf: str) -> tuple[int, str]:
    if route.method == "GET":
        response = opened.get(route.path)
    else:
        response = opened.post(route.path, data={"csrf": csrf, **route.data})
    return response.status_code, response.text


def changes(site: Site) -> list[str]:
    """What the audit log says was done in the back office."""
    with site.world.container.reading() as session:
        return [
            action
            for action in session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq))
            if action.startswith("application.")
            or action in {"registration.approved", "registration.rejected", "registration.resent"}
        ]


def state_of(site: Site, request_id: str) -> RegistrationState:
    with site.world.container.reading() as session:
        row = session.get(RegistrationRequest, request_id)
        assert row is not None
        return row.state


@pytest.mark.parametrize("who", [w for w in VISITORS if w != "operator"])
def test_nobody_but_the_operator_gets_into_the_back_office(site: Site, who: str) -> None:
    opened, csrf = visit(site, who)
    before = changes(site)
    expected = 401 if who == "anonymous" else 403
    code = "login_required" if who == "anonymous" else "forbidden"
    wrong = []
    for route in routes(site):
        status, text = call(opened, route, csrf)
        if status != expected or f"<code>{code}</code>" not in text or 'href="/"' not in text:
            wrong.append((route.method, route.path, status))
    assert wrong == []
    assert changes(site) == before
    assert state_of(site, site.review_id) is RegistrationState.AWAITING_REVIEW


def test_the_operator_gets_every_back_office_route(site: Site) -> None:
    opened, csrf = visit(site, "operator")
    got = [(r.method, r.path, call(opened, r, csrf)[0]) for r in routes(site)]
    assert got == [(r.method, r.path, r.operator_status) for r in routes(site)]
    assert changes(site)[-6:] == [
        "registration.resent",
        "registration.rejected",
        "registration.approved",
        "application.added",
        "application.changed",
        "application.withdrawn",
    ]


def test_the_matrix_covers_every_back_office_route(site: Site) -> None:
    # The OpenAPI document lists every route of every router the app includes.
    paths = create_app(site.world.container).openapi()["paths"]
    declared = {
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/beheer")
        for method in operations
    }
    assert declared == {(r.method, r.template) for r in routes(site)}


def test_the_pages_say_what_to_do_in_the_persons_language(site: Site) -> None:
    anonymous = browser(site.url).get("/beheer", headers={"accept-language": "en"})
    assert anonymous.status_code == 401
    assert "log in with the ZORG-ID app" in anonymous.text
    opened, _ = visit(site, "beheerder of A")
    refused = opened.get("/beheer", headers={"accept-language": "en"})
    assert refused.status_code == 403
    assert "only for the ZORG-ID operator" in refused.text
    dutch = opened.get("/beheer")
    assert dutch.status_code == 403
    assert '<html lang="nl">' in dutch.text


def test_a_session_that_ended_opens_nothing(site: Site) -> None:
    opened, csrf = visit(site, "operator")
    assert opened.get("/beheer").status_code == 200
    assert opened.post("/logout", data={"csrf": csrf}).status_code == 303
    assert opened.get("/beheer").status_code == 401
    forged = browser(site.url, "x" * 43)
    assert forged.get("/beheer").status_code == 401
    oversized = browser(site.url, "x" * 5000)
    assert oversized.get("/beheer/audit").status_code == 401


def test_an_operator_post_without_the_sessions_csrf_token_changes_nothing(site: Site) -> None:
    opened, _ = visit(site, "operator")
    before = changes(site)
    for route in routes(site):
        if route.method == "POST":
            response = opened.post(route.path, data={"csrf": "forged", **route.data})
            assert response.status_code == 403, route.path
            assert "csrf_invalid" in response.text
            response = opened.post(route.path, data=route.data)
            assert response.status_code == 403, route.path
    assert changes(site) == before
