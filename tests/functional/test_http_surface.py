"""What the service shows of itself over HTTP: the methods each address allows (``Allow`` on
every 405), and an OpenAPI document that names every route the app answers."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import TYPE_CHECKING

from starlette.routing import Mount, Route

if TYPE_CHECKING:
    from fastapi import FastAPI

    from tests.support.server import Browser, Live

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
SAMPLE = "AAAAAAAAAAAAAAAAAAAAAA"  # fits every path parameter (ids are 22 characters)


def declared_methods(app: FastAPI) -> dict[str, set[str]]:
    """Path template -> every method a route declares for it."""
    methods: dict[str, set[str]] = defaultdict(set)
    for route in app.router.routes:
        if isinstance(route, Route) and route.methods:
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
    assert checked > 40


def test_a_405_on_static_files_allows_get_and_head(browser: Browser) -> None:
    response = browser.post("/static/login.js")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


def test_static_files_are_the_only_mount(live: Live) -> None:
    assert live.app is not None
    mounts = [r.path for r in live.app.router.routes if isinstance(r, Mount)]
    assert mounts == ["/static"]
