"""The application form's proof of work (ALTCHA) over HTTP, on the real server.

A person's browser solves a challenge before the form is sent; the server checks it on every
POST and lets one solution send one form. Whatever is wrong with it (missing, unreadable,
signed by someone else, wrongly solved, expired, used before, even at the same moment), the
answer is the form again with a clear message, and no request or mail is written. The daily
mail limit answers the same way. SQLite and PostgreSQL. The widget itself is vendored: its
files are exactly those of the published package.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import altcha
import pytest
from sqlalchemy import func, select

from tests.support.portal import browser, served
from tests.support.proofofwork import CHALLENGE_PATH, solve, solved
from tests.support.registration import make_world
from tests.support.server import Browser, csrf_of
from tests.support.site import FORM_POST
from zorgid.mail.models import OutboxMessage
from zorgid.registration.models import RegistrationRequest, UsedProofOfWork
from zorgid.settings import Settings
from zorgid.web.security import CSP

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx

    from tests.support.clock import ManualClock
    from tests.support.registration import World

EN = {"accept-language": "en"}
#: Cheaper than the default (every test here solves several): the checks are the same.
COST = 200
WIDGET = Path(__file__).parents[2] / "src/zorgid/web/static/vendor/altcha-3.2.2"
#: The files of the npm package altcha 3.2.2 (dist/external/altcha.min.js, dist/external/
#: altcha.css, dist/workers/pbkdf2.js, LICENSE.txt), as published.
PUBLISHED = {
    "altcha.min.js": "959494398e8fcde3414d09309ade24b444ede098b04dec1514f4754279bff031",
    "altcha.css": "03622256effb4e962d0c1da9a59684cf237f541f290703934c07a97dabcbad47",
    "workers/pbkdf2.js": "7862add9c9d3d847ded3da928edcf406b46478754b9883351111414825b9c86f",
    "LICENSE.txt": "bee1fb9d9c97d42c12c22332c5250f2fb1ef5c2321f6f82beb23e3b77be50a29",
}


class Site:
    def __init__(self, world: World, url: str) -> None:
        self.world = world
        self.url = url

    def count(self, model: type[RegistrationRequest | OutboxMessage | UsedProofOfWork]) -> int:
        with self.world.container.reading() as session:
            return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def site(settings: Settings, clock: ManualClock, tmp_path: Path) -> Iterator[Site]:
    world = make_world(
        settings.replace(mail_worker=False, proof_of_work_cost=COST), clock, tmp_path
    )
    try:
        with served(world.container) as url:
            yield Site(world, url)
    finally:
        world.container.close()


def send(opened: Browser, altcha_field: str | None, **changes: str) -> httpx.Response:
    """Open the form and send it with ``altcha_field`` (None: without the field at all)."""
    page = opened.get("/aanvraag", headers=EN)
    data = {"csrf": csrf_of(page.text), **FORM_POST, **changes}
    if altcha_field is not None:
        data["altcha"] = altcha_field
    return opened.post("/aanvraag", data=data, headers=EN)


def proof_problem(response: httpx.Response) -> str:
    found = re.search(r'<p class="error" id="e-altcha">([^<]*)</p>', response.text)
    assert found, response.text[:3000]
    return found.group(1)


def reencoded(payload: str, change: Any) -> str:
    data = json.loads(base64.b64decode(payload))
    change(data)
    return base64.b64encode(json.dumps(data).encode()).decode()


def test_the_vendored_widget_is_the_published_altcha_3_2_2() -> None:
    for name, digest in PUBLISHED.items():
        assert hashlib.sha256((WIDGET / name).read_bytes()).hexdigest() == digest, name
    assert "MIT License" in (WIDGET / "LICENSE.txt").read_text()
    assert "/altcha/-/altcha-3.2.2.tgz" in (WIDGET / "SOURCE.md").read_text()
    # The page's CSP stays strict: no inline script or style, nothing from elsewhere.
    assert "unsafe" not in CSP
    assert "script-src 'self';" in CSP
    assert "style-src 'self';" in CSP


def test_the_form_loads_the_widget_from_the_service_only(site: Site) -> None:
    page = browser(site.url).get("/aanvraag", headers=EN)
    assert page.status_code == 200
    assert f'<altcha-widget challenge="{CHALLENGE_PATH}" name="altcha"' in page.text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "/static/altcha-setup.js" in sources
    assert "/static/vendor/altcha-3.2.2/altcha.css" in sources
    assert all(s.startswith(("/", "?")) for s in sources), sources
    assert "<noscript>" in page.text
    assert "JavaScript is off in your browser" in page.text
    setup = browser(site.url).get("/static/altcha-setup.js")
    assert setup.status_code == 200
    assert "/static/vendor/altcha-3.2.2/workers/pbkdf2.js" in setup.text


def test_a_challenge_is_signed_pbkdf2_and_short_lived(site: Site) -> None:
    response = browser(site.url).get(CHALLENGE_PATH)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    challenge = response.json()
    parameters = challenge["parameters"]
    assert parameters["algorithm"] == "PBKDF2/SHA-256"
    assert parameters["cost"] == COST
    assert Settings().proof_of_work_cost == 5000  # the default: about a second in a browser
    assert parameters["keyPrefix"] == "00"
    now = site.world.clock.now().timestamp()
    assert parameters["data"]["expires"] == int(now) + 600
    assert re.fullmatch(r"[0-9a-f]{64}", challenge["signature"])


def test_a_solved_challenge_sends_the_form_once(site: Site) -> None:
    opened = browser(site.url)
    payload = solved(opened)
    sent = send(opened, payload)
    assert sent.status_code == 200
    assert 'id="number"' in sent.text
    assert site.count(RegistrationRequest) == 1
    assert site.count(UsedProofOfWork) == 1
    # The same solution again (a replay, another browser too): the form again, nothing sent.
    for again in (opened, browser(site.url)):
        replayed = send(again, payload, ura="90000999")
        assert replayed.status_code == 200
        assert "could not be accepted" in proof_problem(replayed)
    assert site.count(RegistrationRequest) == 1
    assert site.count(OutboxMessage) == 1


@pytest.mark.parametrize(
    ("altcha_field", "message"),
    [
        (None, "has not yet finished the check"),
        ("", "has not yet finished the check"),
        ("not base64 at all!", "could not be accepted"),
        (base64.b64encode(b"[1, 2]").decode(), "could not be accepted"),
        (base64.b64encode(b"{" * 5000).decode()[:3999], "could not be accepted"),
        ("A" * 100_00, "could not be accepted"),
    ],
    ids=["missing", "empty", "garbage", "not-a-payload", "deep", "huge"],
)
def test_no_or_an_unreadable_solution_shows_the_form_again_and_sends_nothing(
    site: Site, altcha_field: str | None, message: str
) -> None:
    response = send(browser(site.url), altcha_field)
    assert response.status_code == 200
    assert message in proof_problem(response)
    assert 'id="f-altcha"' in response.text
    assert f'value="{FORM_POST["organisation_name"]}"' in response.text  # what was typed stays
    assert site.count(RegistrationRequest) == 0
    assert site.count(OutboxMessage) == 0


def test_a_forged_or_wrongly_solved_challenge_is_refused(site: Site) -> None:
    opened = browser(site.url)
    own = opened.get(CHALLENGE_PATH).json()

    def wrong_counter(data: dict[str, Any]) -> None:
        data["solution"]["counter"] += 1

    def cheaper(data: dict[str, Any]) -> None:
        data["challenge"]["parameters"]["keyPrefix"] = ""

    def later(data: dict[str, Any]) -> None:
        data["challenge"]["parameters"]["data"]["expires"] += 3600

    good = solve(own)
    forged_payloads = [reencoded(good, change) for change in (wrong_counter, cheaper, later)]
    # A challenge made and signed by someone else (another key), correctly solved.
    other = altcha.create_challenge(
        "PBKDF2/SHA-256",
        10,
        key_prefix="0",
        data=own["parameters"]["data"],
        hmac_secret=b"not the service's key",
    )
    forged_payloads.append(solve(other.to_dict()))
    for forged in forged_payloads:
        response = send(opened, forged)
        assert response.status_code == 200
        assert "could not be accepted" in proof_problem(response)
    assert site.count(RegistrationRequest) == 0
    assert site.count(UsedProofOfWork) == 0


def test_an_expired_challenge_is_refused_and_forgotten_later(site: Site) -> None:
    opened = browser(site.url)
    late = solved(opened)
    site.world.clock.advance(601)
    response = send(opened, late)
    assert "could not be accepted" in proof_problem(response)
    assert site.count(RegistrationRequest) == 0
    # A used challenge is kept until it expires, then removed when another is recorded.
    assert send(opened, solved(opened)).status_code == 200
    site.world.clock.advance(601)
    assert send(opened, solved(opened), ura="90000999").status_code == 200
    assert site.count(UsedProofOfWork) == 1


def test_one_solution_sent_many_times_at_once_sends_one_form(site: Site) -> None:
    attempts = 8
    opened = [browser(site.url) for _ in range(attempts)]
    pages = [b.get("/aanvraag", headers=EN) for b in opened]
    payload = solved(opened[0])
    start = threading.Barrier(attempts)

    def post(index: int) -> httpx.Response:
        data = {"csrf": csrf_of(pages[index].text), "altcha": payload, **FORM_POST}
        data["ura"] = f"9{index:07d}"
        data["technical_email"] = f"it{index}@praktijk.example"
        start.wait()
        return opened[index].post("/aanvraag", data=data, headers=EN)

    with ThreadPoolExecutor(attempts) as pool:
        responses = list(pool.map(post, range(attempts)))
    assert all(r.status_code == 200 for r in responses)
    assert sum('id="number"' in r.text for r in responses) == 1
    assert site.count(RegistrationRequest) == 1
    assert site.count(OutboxMessage) == 1


def test_the_daily_limit_answers_with_the_form_and_a_message(site: Site) -> None:
    opened = browser(site.url)
    for number in range(3):
        done = send(opened, solved(opened), ura=f"9{number:07d}")
        assert 'id="number"' in done.text
    limited = send(opened, solved(opened), ura="99999999")
    assert limited.status_code == 429
    assert "already sent as many e-mails as it sends in one day" in limited.text
    assert "Some fields are missing" not in limited.text
    assert f'value="{FORM_POST["organisation_name"]}"' in limited.text
    assert site.count(RegistrationRequest) == 3
    assert site.count(OutboxMessage) == 3
