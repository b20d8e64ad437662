"""One address cannot flood the service with new logins or attempts."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest

from tests.support.clock import ManualClock
from tests.support.server import Browser, start_live
from zorgid.web.ratelimit import RateLimit, counted

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.support.server import Live


@pytest.fixture
def limited(tmp_path: Path, database_url: str) -> Iterator[Live]:
    yield from start_live(
        tmp_path, database_url, ManualClock(dt.datetime.now(dt.UTC)), rate_limit_per_minute=5
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_sixth_new_login_in_a_minute_waits_with_a_clear_answer(limited: Live) -> None:
    browser = Browser(limited.url)
    for _ in range(5):
        assert browser.get("/").status_code == 200
    refused = browser.get("/", headers={"accept-language": "en"})
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert "Too many requests" in refused.text
    api = browser.post(
        "/api/app/v1/logins/AAAAAAAAAAAAAAAAAAAAAA/scan", json={}, headers={"accept-language": "en"}
    )
    assert api.status_code == 429
    assert api.json()["error"]["code"] == "rate_limited"
    assert browser.get("/healthz").status_code == 200  # reads are not counted


@pytest.mark.parametrize(
    ("method", "path", "limited_"),
    [
        ("POST", "/aanvraag", True),
        ("POST", "/gegevens/abc/bevestigen", True),
        ("POST", "/beheer/aanvragen/x/goedkeuren", True),
        ("POST", "/logout", True),
        ("POST", "/a-route-added-later", True),
        ("GET", "/aanvraag/abc", True),
        ("HEAD", "/", True),
        ("HEAD", "/aanvraag/abc", True),
        ("OPTIONS", "/", False),
        ("GET", "/gegevens/abc", True),
        ("GET", "/aanvraag", False),
        ("GET", "/toepassingen", False),
        ("GET", "/beheer", False),
    ],
)
def test_forms_and_pages_behind_mailed_tokens_are_counted(
    method: str,
    path: str,
    limited_: bool,  # noqa: FBT001 - a parameter of the table
) -> None:
    assert counted(method, path) is limited_


def test_the_bucket_refills_with_time_and_is_per_address() -> None:
    now = [0.0]
    limit = RateLimit(lambda *_: None, per_minute=2, client=lambda _: "", clock=lambda: now[0])  # type: ignore[arg-type]
    assert limit._take("a") is None
    assert limit._take("a") is None
    assert limit._take("a") == 30  # one request per 30 s comes back
    assert limit._take("b") is None  # another address has its own bucket
    now[0] = 30.0
    assert limit._take("a") is None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_head_and_logout_are_counted_like_the_requests_they_stand_for(limited: Live) -> None:
    browser = Browser(limited.url)
    for _ in range(3):
        assert browser.request("HEAD", "/").status_code == 200
    for _ in range(2):
        assert browser.post("/logout", data={"csrf": "x"}).status_code == 403
    assert browser.request("HEAD", "/").status_code == 429
    assert browser.post("/logout", data={"csrf": "x"}).status_code == 429
