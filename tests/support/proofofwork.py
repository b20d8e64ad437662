"""The public form's proof of work solved as the browser's widget solves it, for HTTP tests.

:func:`solve` takes the challenge JSON the service hands out and returns the form field the
widget would send (base64 JSON of challenge and solution), found by brute force with the
``altcha`` package's solver: the same PBKDF2/SHA-256 search the widget's worker runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import altcha
import httpx

if TYPE_CHECKING:
    from tests.support.server import Browser

#: Where the form's widget fetches its challenge.
CHALLENGE_PATH = "/aanvraag-controle"


def solve(challenge: dict[str, Any]) -> str:
    """The ``altcha`` field for ``challenge``, solved."""
    parsed = altcha.Challenge.from_dict(challenge)
    solution = altcha.solve_challenge(parsed, timeout=0)
    assert solution is not None
    return altcha.Payload(parsed, solution).to_base64()


def solved(browser: Browser | str) -> str:
    """A fresh challenge fetched from the service (a browser, or a base URL) and solved."""
    if isinstance(browser, str):
        response = httpx.get(browser + CHALLENGE_PATH, timeout=30)
    else:
        response = browser.get(CHALLENGE_PATH)
    assert response.status_code == 200, response.text
    return solve(response.json())
