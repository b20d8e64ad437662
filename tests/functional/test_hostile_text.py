"""Untrusted text that is compared with a secret: any character is a clear 4xx, never a 500.

Every CSRF-protected form, every token in an address, the login's code, nonces and cookies get
non-ASCII and control characters. ``hmac.compare_digest`` raises on ``str`` with anything but
ASCII; each comparison here must refuse such text the way it refuses a wrong ASCII value.
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, select

from tests.support.portal import portal_session
from tests.support.server import Browser, Live, csrf_of, read_login_page
from zorgid.identity.models import Role
from zorgid.login.models import LoginSession
from zorgid.web.cookies import SESSION

if TYPE_CHECKING:
    from collections.abc import Iterator

HOSTILE = ["é", "ZORG-ID\u202e", "\u0000\u0007", "😀" * 10, "\ufffd", "a\r\nb"]
ID = "AAAAAAAAAAAAAAAAAAAAAA"
#: The 14 routes that check a CSRF token: (path, fields besides ``csrf``).
CSRF_ROUTES: list[tuple[str, dict[str, str]]] = [
    ("/login/{login_id}/code", {"code": "123456"}),
    ("/login/{login_id}/complete", {}),
    ("/logout", {}),
    ("/aanvraag", {"ura": "90000123"}),
    ("/aanvraag/sometoken/document", {}),
    ("/aanvraag/sometoken/intrekken", {}),
    ("/gegevens/sometoken/bevestigen", {}),
    ("/gegevens/sometoken", {"full_name": "x"}),
    ("/beheer/aanvragen/x/goedkeuren", {}),
    ("/beheer/aanvragen/x/afwijzen", {"reason": "x"}),
    ("/beheer/aanvragen/x/opnieuw-versturen", {}),
    ("/beheer/toepassingen", {"id": "x"}),
    ("/beheer/toepassingen/example-his", {"name": "x"}),
    ("/beheer/toepassingen/example-his/intrekken", {}),
]


@pytest.fixture
def operator(live: Live) -> Iterator[Browser]:
    """A browser logged in as the operator, with a login of its own waiting (its cookie too)."""
    token = portal_session(live.container, email="op@zorgid.test", roles=[(Role.OPERATOR, None)])
    opened = Browser(live.url)
    opened.cookies[(SESSION, "/")] = token
    opened.cookies[("zorgid_form", "/aanvraag")] = "form-cookie"
    try:
        yield opened
    finally:
        opened.client.close()


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_csrf_value_is_refused_as_csrf_invalid_on_every_form(
    live: Live, operator: Browser, value: str
) -> None:
    # A login of this browser, so that the login forms have a binding to compare against.
    anonymous = Browser(live.url)
    page = read_login_page(anonymous.get("/").text)
    assert len(CSRF_ROUTES) == 14
    answers = {}
    for template, fields in CSRF_ROUTES:
        path = template.format(login_id=page.login_id)
        who = anonymous if path.startswith("/login/") else operator
        response = who.post(path, data={"csrf": value, **fields})
        answers[path] = (response.status_code, "csrf_invalid" in response.text)
    assert answers == dict.fromkeys(answers, (403, True)), answers


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_tokens_codes_nonces_and_cookies_get_a_coded_4xx(
    live: Live, browser: Browser, value: str
) -> None:
    page = read_login_page(browser.get("/").text)
    # A header cannot carry CR, LF or NUL at all; every other byte goes as it is.
    raw = bytes(b for b in value.encode() if b >= 0x20)
    anyone = Browser(live.url).client
    segment = urllib.parse.quote(value, safe="")
    json = {"accept": "application/json"}
    answers = [
        # Tokens in addresses (looked up by their hash).
        browser.get(f"/aanvraag/{segment}"),
        browser.get(f"/gegevens/{segment}"),
        browser.get(f"/aanvraag/{segment}/intrekken"),
        # The code typed in the browser, with its genuine CSRF token.
        browser.post(
            f"/login/{page.login_id}/code", data={"code": value, "csrf": page.csrf}, headers=json
        ),
        # The app's nonces, device ids and PINs.
        browser.post(
            f"/api/app/v1/logins/{page.login_id}/scan",
            json={"nonce": value, "device_id": value, "signature": value},
        ),
        browser.post(
            f"/api/app/v1/activations/{ID}",
            json={"nonce": value, "public_key": "A", "pin": value, "signature": "A"},
        ),
        browser.post(
            f"/api/app/v1/logins/{page.login_id}/answer",
            json={"device_id": "A", "decision": "approve", "pin": value, "signature": "A"},
        ),
        # Cookies holding a login's secret or a session, sent with non-ASCII bytes.
        anyone.get(
            f"{live.url}/login/{page.login_id}/status", headers={b"cookie": b"zorgid_login=" + raw}
        ),
        anyone.get(f"{live.url}/", headers={b"cookie": SESSION.encode() + b"=" + raw}),
        anyone.get(f"{live.url}/beheer", headers={b"cookie": SESSION.encode() + b"=" + raw}),
    ]
    statuses = [(str(r.request.url), r.status_code) for r in answers]
    assert all(400 <= status < 500 or status == 200 for _, status in statuses), statuses
    assert all(status != 200 for url, status in statuses if "/api/" in url), statuses


def test_head_is_counted_and_starts_no_login(live: Live, browser: Browser) -> None:
    for _ in range(20):
        head = browser.request("HEAD", "/")
        assert head.status_code == 200
        assert head.headers["content-type"].startswith("text/html")
        assert "zorgid_login" not in head.headers.get("set-cookie", "")
    with live.container.reading() as session:
        assert session.scalar(select(func.count()).select_from(LoginSession)) == 0
    assert browser.get("/").status_code == 200  # a GET still starts one
    with live.container.reading() as session:
        assert session.scalar(select(func.count()).select_from(LoginSession)) == 1


@pytest.mark.parametrize("value", ["%00", "%C3%A9%00x", "a%0D%0Ab"])
def test_control_characters_in_back_office_lookups_are_a_400_not_a_database_error(
    live: Live, operator: Browser, value: str
) -> None:
    # PostgreSQL refuses a NUL in any text (an error, not a miss): refused before the lookup.
    csrf = csrf_of(operator.get("/").text)
    token = operator.cookies[(SESSION, "/")]

    def fresh() -> Browser:  # uvicorn closes a connection after an error: one each
        opened = Browser(live.url)
        opened.cookies[(SESSION, "/")] = token
        return opened

    answers = {
        path: fresh().get(path).status_code
        for path in (
            f"/beheer/aanvragen/{value}",
            f"/beheer/toepassingen/{value}",
            f"/beheer/audit?onderwerp={value}",
        )
    }
    answers[f"reject {value}"] = (
        fresh()
        .post(f"/beheer/aanvragen/{value}/afwijzen", data={"csrf": csrf, "reason": "r"})
        .status_code
    )
    answers[f"approve {value}"] = (
        fresh().post(f"/beheer/aanvragen/{value}/goedkeuren", data={"csrf": csrf}).status_code
    )
    assert all(400 <= status < 500 for status in answers.values()), answers


def test_a_control_character_in_the_apps_device_label_is_a_400(browser: Browser) -> None:
    answer = browser.post(
        f"/api/app/v1/activations/{ID}",
        json={
            "nonce": "n",
            "public_key": "A",
            "pin": "13579",
            "label": "a\u0000b",
            "signature": "A",
        },
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "bad_request"
