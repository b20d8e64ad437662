"""What the service shows of itself over HTTP: the methods each address allows (``Allow`` on
every 405), and an OpenAPI document that names every route the app answers."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from typing import TYPE_CHECKING

import httpx
import pytest
from fastapi.routing import iter_route_contexts

from tests.support.clock import ManualClock
from tests.support.server import Browser, serve_process, start_live
from zorgid.settings import SettingsError, from_environment
from zorgid.web.openapi import OPERATIONS, routes

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from fastapi import FastAPI

    from tests.support.server import Live

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
SAMPLE = "AAAAAAAAAAAAAAAAAAAAAA"  # fits every path parameter (ids are 22 characters)


def declared_methods(app: FastAPI) -> dict[str, set[str]]:
    """Path template -> every method a route declares for it."""
    methods: dict[str, set[str]] = defaultdict(set)
    for route in iter_route_contexts(app.router.routes):
        if route.methods and route.path:
            methods[route.path] |= route.methods
    return dict(methods)


def test_every_405_says_which_methods_the_address_allows(live: Live, browser: Browser) -> None:
    assert live.app is not None
    checked = 0
    for template, allowed in declared_methods(live.app).items():
        path = re.sub(r"\{[^}]+\}", SAMPLE, template)
        for method in sorted(set(METHODS) - allowed):
            response = browser.request(method, path)
            assert response.status_code == 405, (method, path, response.status_code)
            said = {m.strip() for m in response.headers.get("allow", "").split(",")}
            assert said == allowed, (method, path, said)
            checked += 1
    assert checked > 150


def test_a_405_on_static_files_allows_get_and_head(browser: Browser) -> None:
    response = browser.post("/static/login.js")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


def test_static_files_are_the_only_mount(live: Live) -> None:
    assert live.app is not None
    mounts = [r.path for r in iter_route_contexts(live.app.router.routes) if not r.methods]
    assert mounts == ["/static"]


@pytest.fixture
def narrow_live(tmp_path: Path, database_url: str) -> Iterator[Live]:
    """The service with its metrics open to a network the tests are not on."""
    clock = ManualClock(dt.datetime.now(dt.UTC))
    yield from start_live(tmp_path, database_url, clock, metrics_allow="192.0.2.0/24, 10.1.2.3")


def test_metrics_answer_loopback_by_default(browser: Browser) -> None:
    response = browser.get("/metrics")
    assert response.status_code == 200
    assert "zorgid_http_requests_total" in response.text


def test_metrics_are_not_found_from_an_address_outside_the_allow_list(narrow_live: Live) -> None:
    response = Browser(narrow_live.url).get("/metrics", headers={"accept": "application/json"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "zorgid_http" not in response.text


def test_behind_a_proxy_metrics_are_judged_on_the_forwarded_client(
    tmp_path: Path, database_url: str
) -> None:
    with serve_process(tmp_path, database_url, ZORGID_FORWARDED_ALLOW_IPS="127.0.0.1") as url:
        direct = httpx.get(f"{url}/metrics")
        relayed = httpx.get(f"{url}/metrics", headers={"x-forwarded-for": "203.0.113.9"})
    assert direct.status_code == 200
    assert relayed.status_code == 404


def test_a_metrics_allow_list_that_is_not_addresses_stops_the_start() -> None:
    with pytest.raises(SettingsError) as refused:
        from_environment({"ZORGID_METRICS_ALLOW": "127.0.0.1, everyone"})
    assert refused.value.params["name"] == "ZORGID_METRICS_ALLOW"


def test_the_openapi_document_names_every_route_and_only_those(
    browser: Browser, live: Live
) -> None:
    assert live.app is not None
    doc = browser.get("/api/openapi.json").json()
    described = {
        (method.upper(), path) for path, operations in doc["paths"].items() for method in operations
    }
    assert described == routes(live.app)
    assert described == set(OPERATIONS)


def test_the_openapi_document_describes_every_body_and_no_422(browser: Browser) -> None:
    doc = browser.get("/api/openapi.json").json()
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            assert "422" not in operation["responses"] or path.endswith("/document"), path
            if method == "post":
                assert operation["requestBody"]["content"], (method, path)
            for status, answer in operation["responses"].items():
                if status.startswith("4"):
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (path, status)
    forms = doc["paths"]["/aanvraag"]["post"]["requestBody"]["content"]
    fields = forms["application/x-www-form-urlencoded"]["schema"]["properties"]
    assert {"csrf", "ura", "admin_email", "applications"} <= set(fields)
    upload = doc["paths"]["/aanvraag/{token}/document"]["post"]["requestBody"]["content"]
    assert upload["multipart/form-data"]["schema"]["properties"]["document"]["format"] == "binary"
    scan = doc["paths"]["/api/app/v1/logins/{login_id}/scan"]["post"]
    assert scan["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ScanRequest"
    }
    assert "ScanRequest" in doc["components"]["schemas"]
