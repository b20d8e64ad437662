"""Cookies: the session's with the ``__Host-`` prefix, each deleted as it was set."""

from __future__ import annotations

import datetime as dt
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING

import pytest
from starlette.responses import Response

from tests.support.clock import ManualClock
from tests.support.identity import Activation, App, redeem
from tests.support.identity_flows import add_member
from tests.support.portal import confirmed_login, portal_session
from tests.support.server import Browser, csrf_of, start_live
from zorgid.identity.models import Role
from zorgid.settings import Settings
from zorgid.web import cookies
from zorgid.web.security import csrf_token

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.support.server import Live

OPERATOR = [(Role.OPERATOR, None)]


def attributes(raw: str) -> dict[str, str]:
    """A Set-Cookie header's name, path, domain and flags (the value and age left out)."""
    parsed = SimpleCookie()
    parsed.load(raw)
    [(name, morsel)] = parsed.items()
    return {
        "name": name,
        "path": morsel["path"],
        "domain": morsel["domain"],
        "secure": str(bool(morsel["secure"])),
        "httponly": str(bool(morsel["httponly"])),
        "samesite": morsel["samesite"].lower(),
    }


def set_cookies(response: object) -> dict[str, str]:
    """The response's Set-Cookie headers by cookie name."""
    found = {}
    for raw in response.headers.get_list("set-cookie"):  # type: ignore[attr-defined]
        found[attributes(raw)["name"]] = raw
    return found


def deleted(raw: str) -> bool:
    """Whether a Set-Cookie header deletes its cookie."""
    parsed = SimpleCookie()
    parsed.load(raw)
    [morsel] = parsed.values()
    return morsel["max-age"] == "0" and morsel.value in {"", '""'}


@pytest.mark.parametrize("secure", [True, False])
def test_every_cookie_is_deleted_with_the_attributes_it_was_set_with(secure: bool) -> None:  # noqa: FBT001
    settings = Settings(cookie_secure=secure)
    for cookie in (
        cookies.session(settings),
        cookies.login(settings, "AAAAAAAAAAAAAAAAAAAAAA"),
        cookies.form(settings),
        cookies.language(settings),
    ):
        made, gone = Response(), Response()
        cookie.set(made, "value", max_age=60)
        cookie.delete(gone)
        [set_raw] = made.headers.getlist("set-cookie")
        [delete_raw] = gone.headers.getlist("set-cookie")
        assert attributes(set_raw) == attributes(delete_raw), cookie
        assert deleted(delete_raw)
        assert not deleted(set_raw)


def test_the_session_cookie_has_the_host_prefix_only_where_it_can_be_secure() -> None:
    secure = cookies.session(Settings())
    assert secure.name == "__Host-zorgid_session"
    assert (secure.secure, secure.path) == (True, "/")
    assert cookies.session(Settings(cookie_secure=False)).name == "zorgid_session"


def test_login_sets_a_host_prefixed_session_and_deletes_the_login_cookie_as_set(
    live: Live,
) -> None:
    issued = add_member(live.container, name="Olga", email="olga@zorgid.test", roles=OPERATOR)
    app = App()
    device = redeem(
        live.container,
        Activation(issued.activation_id, issued.qr_text.split("#", 1)[1], ""),
        app=app,
    )
    confirmed = confirmed_login(live.container, device_id=device.id, app=app)
    confirmed.answer(live.container, device_id=device.id)
    browser = Browser(live.url)
    path = f"/login/{confirmed.login_id}"
    browser.cookies[(cookies.LOGIN, path)] = confirmed.browser_secret
    done = browser.post(
        f"{path}/complete",
        data={"csrf": csrf_token(live.container.keys.secret, confirmed.browser_secret)},
    )
    assert done.status_code == 303
    given = set_cookies(done)
    session = attributes(given[cookies.SESSION])
    assert session == {
        "name": "__Host-zorgid_session",
        "path": "/",
        "domain": "",
        "secure": "True",
        "httponly": "True",
        "samesite": "strict",
    }
    assert deleted(given[cookies.LOGIN])
    assert attributes(given[cookies.LOGIN]) == {**session, "name": cookies.LOGIN, "path": path}
    assert 'id="person-name">Olga<' in browser.get("/").text  # the session works


def test_logout_and_an_expired_session_delete_the_cookie_as_it_was_set(live: Live) -> None:
    expected = {
        "name": cookies.SESSION,
        "path": "/",
        "domain": "",
        "secure": "True",
        "httponly": "True",
        "samesite": "strict",
    }
    token = portal_session(live.container, email="a@zorgid.test", roles=OPERATOR)
    browser = Browser(live.url)
    browser.cookies[(cookies.SESSION, "/")] = token
    out = browser.post("/logout", data={"csrf": csrf_of(browser.get("/").text)})
    assert out.status_code == 303
    gone = set_cookies(out)[cookies.SESSION]
    assert deleted(gone)
    assert attributes(gone) == expected

    stale = Browser(live.url)
    stale.cookies[(cookies.SESSION, "/")] = portal_session(
        live.container, email="b@zorgid.test", roles=OPERATOR
    )
    live.clock.advance(live.container.settings.session_ttl_minutes * 60 + 1)
    page = stale.get("/")
    forgotten = set_cookies(page)[cookies.SESSION]
    assert deleted(forgotten)
    assert attributes(forgotten) == expected
    assert (cookies.SESSION, "/") not in stale.cookies


@pytest.fixture
def plain(tmp_path: Path, database_url: str) -> Iterator[Live]:
    yield from start_live(
        tmp_path, database_url, ManualClock(dt.datetime.now(dt.UTC)), cookie_secure=False
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_without_secure_cookies_the_session_cookie_is_plain_and_still_works(plain: Live) -> None:
    token = portal_session(plain.container, email="p@zorgid.test", roles=OPERATOR)
    browser = Browser(plain.url)
    browser.cookies[(cookies.SESSION_PLAIN, "/")] = token
    out = browser.post("/logout", data={"csrf": csrf_of(browser.get("/").text)})
    gone = set_cookies(out)[cookies.SESSION_PLAIN]
    assert deleted(gone)
    assert attributes(gone)["secure"] == "False"
