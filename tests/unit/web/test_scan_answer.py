"""What the app is told of the browser that asks, over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.support.identity import SOURCE, App, new_activation, redeem
from tests.support.portal import served

if TYPE_CHECKING:
    from zorgid.bootstrap import Container

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
PHISH = (
    "Uw account is geblokkeerd: bel 0900-1234 of ga naar https://evil.example/login \u202e"
    + "!" * 300
)[:300]


@pytest.mark.parametrize(
    ("header", "lang", "label"),
    [
        (CHROME, "nl", "Chrome op Windows"),
        (CHROME, "en", "Chrome on Windows"),
        (PHISH, "nl", "onbekende browser"),
        (PHISH, "en", "unknown browser"),
    ],
)
def test_the_scan_answer_names_the_browser_never_its_header(
    container: Container, header: str, lang: str, label: str
) -> None:
    app = App()
    device = redeem(container, new_activation(container), app=app)
    started = asyncio.run(container.logins.start(client_ip=SOURCE, user_agent=header))
    nonce = started.qr_text.split("#", 1)[1]
    body = {
        "nonce": nonce,
        "device_id": device.id,
        "signature": app.sign("zorgid-login-scan-v1", started.login_id, nonce, device.id),
    }
    with served(container) as url, httpx.Client(base_url=url, timeout=30) as http:
        answer = http.post(
            f"/api/app/v1/logins/{started.login_id}/scan",
            json=body,
            headers={"accept-language": lang},
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["browser"] == {"ip": SOURCE, "user_agent": label}
