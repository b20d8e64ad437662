"""The web layer under attack: headers, CSRF, cookies, hostile input never reaching a 500."""

from __future__ import annotations

import pytest

from tests.support.server import Browser, Live, read_login_page


def test_pages_carry_strict_security_headers(browser: Browser) -> None:
    response = browser.get("/")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert "<script>" not in response.text  # no inline script, the CSP would block it anyway


def test_login_cookie_is_httponly_secure_strict_and_scoped_to_its_login(browser: Browser) -> None:
    page = read_login_page(browser.get("/").text)
    raw = browser.flags["zorgid_login"].lower()
    assert "httponly" in raw
    assert "secure" in raw
    assert "samesite=strict" in raw
    assert f"path=/login/{page.login_id}".lower() in raw


def test_code_form_without_its_csrf_token_is_refused(browser: Browser) -> None:
    page = read_login_page(browser.get("/").text)
    response = browser.post(
        f"/login/{page.login_id}/code",
        data={"code": "123456", "csrf": "forged"},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_invalid"


def test_another_browser_cannot_see_or_complete_a_login(live: Live, browser: Browser) -> None:
    page = read_login_page(browser.get("/").text)
    intruder = Browser(live.url)
    status = intruder.get(f"/login/{page.login_id}/status")
    assert status.status_code == 404
    assert status.json()["error"]["code"] == "login_unknown"
    events = intruder.get(f"/login/{page.login_id}/events")
    assert events.status_code == 404
    done = intruder.post(
        f"/login/{page.login_id}/complete",
        data={"csrf": page.csrf},
        headers={"accept": "application/json"},
    )
    assert done.status_code == 403


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/app/v1/logins/AAAAAAAAAAAAAAAAAAAAAA/scan", b"not json"),
        ("POST", "/api/app/v1/logins/AAAAAAAAAAAAAAAAAAAAAA/scan", b"[]"),
        ("POST", "/api/app/v1/logins/AAAAAAAAAAAAAAAAAAAAAA/scan", b'{"nonce": 1}'),
        ("POST", "/api/app/v1/logins/short/scan", b"{}"),
        ("POST", "/api/app/v1/activations/AAAAAAAAAAAAAAAAAAAAAA", b'{"extra": "x"}'),
        ("POST", "/api/app/v1/devices/AAAAAAAAAAAAAAAAAAAAAA/status", b"\xff\xfe"),
        ("GET", "/api/app/v1/logins/AAAAAAAAAAAAAAAAAAAAAA/scan", b""),
        ("GET", "/login/AAAAAAAAAAAAAAAAAAAAAA/events", b""),
        ("GET", "/does-not-exist", b""),
    ],
)
def test_hostile_requests_get_a_coded_4xx_never_a_500(
    browser: Browser, method: str, path: str, body: bytes
) -> None:
    response = browser.request(
        method,
        path,
        content=body,
        headers={"content-type": "application/json", "accept": "application/json"},
    )
    assert 400 <= response.status_code < 500
    error = response.json()["error"]
    assert error["code"]
    assert error["message"]
    assert "Traceback" not in response.text


def test_error_pages_speak_dutch_by_default_and_english_on_request(browser: Browser) -> None:
    dutch = browser.get("/does-not-exist")
    english = browser.get("/does-not-exist", headers={"accept-language": "en-GB,en;q=0.9"})
    assert dutch.status_code == english.status_code == 404
    assert "This page does not exist." in english.text
    assert "This page does not exist." not in dutch.text


def test_health_readiness_and_metrics_answer(browser: Browser) -> None:
    assert browser.get("/healthz").json() == {"status": "ok"}
    assert browser.get("/readyz").json() == {"status": "ready"}
    metrics = browser.get("/metrics").text
    assert "zorgid_http_requests_total" in metrics


@pytest.mark.parametrize(
    ("path", "kwargs", "field"),
    [
        ("code", {"data": {"code": "1" * 101, "csrf": "x"}}, "code"),
        ("code", {"files": {"code": ("code.txt", b"123456")}}, None),
        ("complete", {"data": {"csrf": "x" * 101}}, "csrf"),
        ("code", {"content": b"\xff\xfe=%%%&code=\x00"}, None),
    ],
)
def test_the_login_forms_refuse_hostile_fields_with_a_coded_400(
    browser: Browser, path: str, kwargs: dict[str, object], field: str | None
) -> None:
    page = read_login_page(browser.get("/").text)
    headers = {"accept": "application/json"}
    if "content" in kwargs:
        headers["content-type"] = "application/x-www-form-urlencoded"
    response = browser.post(f"/login/{page.login_id}/{path}", headers=headers, **kwargs)
    assert 400 <= response.status_code < 500, response.text
    error = response.json()["error"]
    assert error["code"] in {"bad_request", "csrf_invalid"}
    if field is not None:
        assert error["code"] == "bad_request"
        assert field in error["message"]


@pytest.mark.parametrize(
    ("step", "body"),
    [
        ("wait", b'{"nonce": "n", "device_id": "d", "extra": 1}'),
        ("wait", b'{"nonce": "' + b"n" * 65 + b'", "device_id": "d"}'),
        ("answer", b'{"device_id": "d", "decision": "maybe", "signature": "s"}'),
        ("answer", b'{"device_id": "d", "decision": "approve", "pin": "' + b"1" * 17 + b'"}'),
        ("answer", b"\x00" * 10),
    ],
)
def test_the_app_steps_refuse_hostile_bodies_with_a_coded_400(
    browser: Browser, step: str, body: bytes
) -> None:
    page = read_login_page(browser.get("/").text)
    response = browser.post(
        f"/api/app/v1/logins/{page.login_id}/{step}",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "bad_request"
