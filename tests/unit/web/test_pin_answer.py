"""The app API's answer to a wrong PIN, over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from tests.support.identity import App, new_activation, redeem
from tests.support.portal import confirmed_login, served

if TYPE_CHECKING:
    from zorgid.bootstrap import Container

WRONG = "13579"


def test_the_third_wrong_pin_answers_the_wait_it_starts(container: Container) -> None:
    app = App()
    device = redeem(container, new_activation(container), app=app)
    login = confirmed_login(container, device_id=device.id, app=app)
    body = {
        "device_id": device.id,
        "decision": "approve",
        "pin": WRONG,
        "signature": login.approval(),
    }
    with served(container) as url, httpx.Client(base_url=url, timeout=30) as http:
        path = f"/api/app/v1/logins/{login.login_id}/answer"
        answers = [http.post(path, json=body, headers={"accept-language": "en"}) for _ in range(4)]

    first, second, third, fourth = answers
    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    for free in (first, second):
        assert "retry_after" not in free.json()["error"]
        assert "retry-after" not in free.headers
    error = third.json()["error"]
    assert (error["code"], error["remaining_attempts"], error["retry_after"]) == (
        "pin_wrong",
        3,
        60,
    )
    assert "Wait 60 seconds" in error["message"]
    assert third.headers["retry-after"] == "60"
    assert fourth.json()["error"]["code"] == "pin_wait"
    assert fourth.json()["error"]["retry_after"] == 60
