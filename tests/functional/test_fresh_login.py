"""An operator's decisions need a login of at most 15 minutes: older, they log in again (QR and
PIN) and come back to the page with what they typed. Real server, SQLite and PostgreSQL, the
test's clock.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from markupsafe import escape

from tests.support.identity import PIN, SOURCE, Activation, App, redeem
from tests.support.identity_flows import add_member
from tests.support.portal import browser, confirmed_login, served
from tests.support.registration import make_world
from tests.support.server import csrf_of, read_login_page
from zorgid.identity.models import Role
from zorgid.registration.models import RegistrationRequest
from zorgid.registration.states import RegistrationState

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.support.clock import ManualClock
    from tests.support.registration import World
    from tests.support.server import Browser
    from zorgid.settings import Settings

EN = {"accept-language": "en"}
MINUTE = 60
REASON = 'Het document is niet door de "bestuurder" ondertekend & moet opnieuw.'


@dataclass
class Operator:
    """An operator with an activated app, and their browser on the served back office."""

    world: World
    browser: Browser
    app: App
    device_id: str

    def page(self, path: str) -> str:
        response = self.browser.get(path, headers=EN)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
        return response.text

    def state(self, request_id: str) -> RegistrationState:
        with self.world.container.reading() as session:
            row = session.get(RegistrationRequest, request_id)
            assert row is not None
            return row.state


@pytest.fixture
def operator(settings: Settings, clock: ManualClock, tmp_path: Path) -> Iterator[Operator]:
    world = make_world(settings.replace(mail_worker=False), clock, tmp_path)
    try:
        issued = add_member(
            world.container,
            name="Olga Operator",
            email="olga@zorgid.test",
            roles=[(Role.OPERATOR, None)],
        )
        app = App()
        nonce = issued.qr_text.split("#", 1)[1]
        device = redeem(world.container, Activation(issued.activation_id, nonce, ""), app=app)
        confirmed = confirmed_login(world.container, device_id=device.id, app=app)
        confirmed.answer(world.container, device_id=device.id)
        new, _ = asyncio.run(
            world.container.logins.complete(
                confirmed.login_id, confirmed.browser_secret, source=SOURCE
            )
        )
        with served(world.container) as url:
            yield Operator(world, browser(url, new.token), app, device.id)
    finally:
        world.container.close()


def _log_in_with_the_app(operator: Operator, page: str, *, as_json: bool) -> str:
    """Scan the login page's QR with the operator's app, type the code, approve; complete it.

    Returns where the browser goes next.
    """
    login = read_login_page(page)
    logins = operator.world.container.logins
    nonce = login.qr_text.split("#", 1)[1]
    app, device = operator.app, operator.device_id
    shown = asyncio.run(
        logins.scan(
            login.login_id,
            nonce=nonce,
            device_id=device,
            signature=app.sign("zorgid-login-scan-v1", login.login_id, nonce, device),
        )
    )
    typed = operator.browser.post(
        f"/login/{login.login_id}/code",
        data={"csrf": login.csrf, "code": shown.code},
        headers={"accept": "application/json"},
    )
    assert typed.status_code == 200, typed.text
    view = asyncio.run(logins.app_state(login.login_id, nonce=nonce, device_id=device))
    assert view.challenge is not None
    asyncio.run(
        logins.answer(
            login.login_id,
            device_id=device,
            decision="approve",
            pin=PIN,
            signature=app.sign("zorgid-login-v1", login.login_id, view.challenge, "approve"),
            source=SOURCE,
        )
    )
    back = re.search(r'name="terug" value="([^"]+)"', page)
    fields = {"csrf": login.csrf, **({"terug": html.unescape(back.group(1))} if back else {})}
    done = operator.browser.post(
        f"/login/{login.login_id}/complete",
        data=fields,
        headers={"accept": "application/json"} if as_json else {},
    )
    if as_json:
        assert done.status_code == 200, done.text
        return str(done.json()["next"])
    assert done.status_code == 303, done.text
    return done.headers["location"]


def test_a_decision_on_an_old_login_asks_for_a_new_one_and_comes_back_with_the_text(
    operator: Operator, clock: ManualClock
) -> None:
    submitted = operator.world.to_awaiting_review()
    path = f"/beheer/aanvragen/{submitted.request_id}"
    operator.page(path)
    clock.advance(10 * MINUTE)
    page = operator.page(path)  # in use: the session lives on, but the login ages
    clock.advance(6 * MINUTE)

    refused = operator.browser.post(
        f"{path}/afwijzen", data={"csrf": csrf_of(page), "reason": REASON}, headers=EN
    )

    assert refused.status_code == 401
    assert "logged in with the ZORG-ID app in the last 15 minutes" in refused.text
    assert "Nothing has been decided yet" in refused.text
    assert f'name="terug" value="{path}"' in refused.text
    assert 'name="bewaard-reason" value="' in refused.text
    assert str(escape(REASON)) in refused.text  # kept, escaped
    assert operator.state(submitted.request_id) is RegistrationState.AWAITING_REVIEW
    # Approving is a decision too; so is every other form of the back office.
    approve = operator.browser.post(f"{path}/goedkeuren", data={"csrf": csrf_of(page)})
    assert approve.status_code == 401
    assert "opnieuw" in approve.text.lower()  # Dutch by default
    assert operator.state(submitted.request_id) is RegistrationState.AWAITING_REVIEW

    again = operator.browser.post(
        "/opnieuw-inloggen",
        data={"csrf": csrf_of(refused.text), "terug": path, "bewaard-reason": REASON},
        headers=EN,
    )
    assert again.status_code == 200, again.text
    assert "Log in again for your decision" in again.text
    kept = re.search(r'<template id="kept" data-path="([^"]+)" data-fields="([^"]+)"', again.text)
    assert kept is not None
    assert kept.group(1) == path
    assert json.loads(html.unescape(kept.group(2))) == {"reason": REASON}

    assert _log_in_with_the_app(operator, again.text, as_json=True) == path

    # Freshly logged in: the decision is taken, with the kept reason.
    page = operator.page(path)
    decided = operator.browser.post(
        f"{path}/afwijzen", data={"csrf": csrf_of(page), "reason": REASON}, headers=EN
    )
    assert decided.status_code == 303, decided.text
    assert operator.state(submitted.request_id) is RegistrationState.REJECTED


def test_without_javascript_the_new_login_returns_to_the_page_too(
    operator: Operator, clock: ManualClock
) -> None:
    clock.advance(10 * MINUTE)
    operator.page("/beheer/toepassingen")  # a page view keeps the session on
    clock.advance(6 * MINUTE)
    page = operator.page("/beheer/toepassingen")
    refused = operator.browser.post(
        "/beheer/toepassingen",
        data={"csrf": csrf_of(page), "id": "zorgmail", "name": "ZorgMail"},
    )
    assert refused.status_code == 401
    assert 'name="terug" value="/beheer/toepassingen"' in refused.text
    again = operator.browser.post(
        "/opnieuw-inloggen", data={"csrf": csrf_of(refused.text), "terug": "/beheer/toepassingen"}
    )
    old_session = dict(operator.browser.cookies)

    assert _log_in_with_the_app(operator, again.text, as_json=False) == "/beheer/toepassingen"

    # The new login replaced the browser's session; the old one has ended.
    assert dict(operator.browser.cookies) != old_session
    assert operator.page("/beheer/toepassingen")
    for (name, _), value in old_session.items():
        if name == "zorgid_session":
            with pytest.raises(Exception, match="session_invalid"):
                asyncio.run(operator.world.container.logins.portal_person(value))


def test_a_recent_login_decides_at_once(operator: Operator, clock: ManualClock) -> None:
    submitted = operator.world.to_awaiting_review()
    path = f"/beheer/aanvragen/{submitted.request_id}"
    clock.advance(14 * MINUTE)
    page = operator.page(path)
    decided = operator.browser.post(
        f"{path}/afwijzen", data={"csrf": csrf_of(page), "reason": "Nee"}
    )
    assert decided.status_code == 303
    assert operator.state(submitted.request_id) is RegistrationState.REJECTED


@pytest.mark.parametrize(
    "back",
    [
        "/",
        "//evil.example/beheer",
        "https://evil.example/beheer",
        "/beheer/../x y",
        "/beheer\\evil.example",
        "/beheer/" + "a" * 100,
        "",
    ],
)
def test_a_new_login_returns_only_to_a_back_office_page(operator: Operator, back: str) -> None:
    page = operator.page("/beheer")
    refused = operator.browser.post(
        "/opnieuw-inloggen", data={"csrf": csrf_of(page), "terug": back}, headers=EN
    )
    assert refused.status_code == 400
    assert "terug" in refused.text


def test_a_new_login_is_only_for_a_logged_in_person_with_the_session_token(
    operator: Operator,
) -> None:
    forged = operator.browser.post("/opnieuw-inloggen", data={"csrf": "x", "terug": "/beheer"})
    assert forged.status_code == 403
    stranger = browser(operator.browser.base)
    assert stranger.post("/opnieuw-inloggen", data={"terug": "/beheer"}).status_code == 401
