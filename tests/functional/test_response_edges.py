"""What every response carries and what it gives away: headers on errors, links, logs."""

from __future__ import annotations

import re
import urllib.parse
from typing import TYPE_CHECKING

import pytest
from prometheus_client import generate_latest

from tests.support.server import Browser, _free_socket, serve
from zorgid.web.app import create_app
from zorgid.web.security import HEADERS, NO_STORE

if TYPE_CHECKING:
    from tests.support.server import Live
    from zorgid.bootstrap import Container

EXPECTED = {name.decode(): value.decode() for name, value in [*HEADERS, NO_STORE]}


def _assert_all_headers(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    missing = {name: value for name, value in EXPECTED.items() if headers.get(name) != value}
    assert not missing, (response, missing)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_defect_answers_500_with_every_security_header(container: Container) -> None:
    app = create_app(container)

    async def boom() -> None:
        msg = "a defect"
        raise RuntimeError(msg)

    app.add_api_route("/test-only/boom", boom)
    app.add_api_route("/api/test-only/boom", boom)
    sock = _free_socket()
    with serve(container, sock, app):
        for path, kind in (("/test-only/boom", "text/html"), ("/api/test-only/boom", "json")):
            # uvicorn closes the connection after an app's error: a browser of its own each.
            response = Browser(f"http://127.0.0.1:{sock.getsockname()[1]}").get(path)
            assert response.status_code == 500
            assert kind in response.headers["content-type"]
            assert "internal_error" in response.text
            assert "Traceback" not in response.text
            _assert_all_headers(response)


def test_every_kind_of_answer_carries_every_security_header(browser: Browser) -> None:
    answers = [
        browser.get("/"),  # a page
        browser.get("/does-not-exist"),  # 404 page
        browser.post("/toepassingen"),  # 405
        browser.post("/api/app/v1/logins/short/scan", content=b"{}"),  # 400 JSON
        browser.post("/logout", data={"csrf": "x"}),  # 403 page
        browser.post(
            "/api/app/v1/logins/AAAAAAAAAAAAAAAAAAAAAA/scan",
            content=b"x" * 100_000,
            headers={"content-type": "application/json"},
        ),  # 413
    ]
    for response in answers:
        _assert_all_headers(response)


@pytest.mark.parametrize(
    "path", ["//evil.example/phish", "/%2F%2Fevil.example/phish", "/%5Cevil.example/x", "/\\\\evil"]
)
def test_links_built_from_the_path_stay_on_this_site(browser: Browser, path: str) -> None:
    response = browser.get(path)
    assert response.status_code == 404
    links = re.findall(r'href="([^"]*)"', response.text)
    assert links
    for link in links:
        assert link.startswith("/"), link
        assert not link.startswith(("//", "/\\")), link
        # As a browser reads it (a backslash is a slash, tabs and newlines are dropped).
        read = re.sub(r"[\t\n\r]", "", link).replace("\\", "/")
        assert urllib.parse.urlsplit(urllib.parse.urljoin(browser.base, read)).netloc == (
            urllib.parse.urlsplit(browser.base).netloc
        ), link


def test_the_language_link_keeps_an_ordinary_path_readable(browser: Browser) -> None:
    page = browser.get("/toepassingen").text
    assert 'href="/toepassingen?lang=en"' in page
    odd = browser.get("/aanvraag/a%09b%25c").text
    assert 'href="/aanvraag/a%09b%25c?lang=en"' in odd


def test_mailed_tokens_never_reach_the_request_log_or_metrics(
    live: Live, browser: Browser, capfd: pytest.CaptureFixture[str]
) -> None:
    token = "SeCrEtMaIlEdToKeN0123456789abcdef"  # noqa: S105 - a marker, not a secret
    for path in (
        f"/aanvraag/{token}",
        f"/aanvraag/{token}/intrekken",
        f"/gegevens/{token}",
    ):
        browser.get(path)
    for path in (
        f"/aanvraag/{token}/intrekken",
        f"/aanvraag/{token}/document",
        f"/gegevens/{token}",
        f"/gegevens/{token}/bevestigen",
    ):
        browser.post(path, data={"csrf": "x"})
    logged = "".join(capfd.readouterr())
    assert "/aanvraag/[token]/document" in logged
    assert "/gegevens/[token]/bevestigen" in logged
    assert token not in logged
    assert live.app is not None
    assert token.encode() not in generate_latest(live.app.state.metrics.registry)
