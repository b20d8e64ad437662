"""The app API's answers for a locked activation code, over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from tests.support.identity import PIN, App, new_activation
from tests.support.portal import served
from zorgid.core.tokens import new_token

if TYPE_CHECKING:
    from zorgid.bootstrap import Container


def test_a_locked_code_answers_the_same_whatever_the_nonce(container: Container) -> None:
    activation = new_activation(container)
    path = f"/api/app/v1/activations/{activation.activation_id}"

    def body(nonce: str) -> dict[str, str]:
        app = App()
        return {
            "nonce": nonce,
            "public_key": app.public_key,
            "pin": PIN,
            "signature": app.sign("zorgid-activate-v1", activation.activation_id, nonce),
        }

    with served(container) as url, httpx.Client(base_url=url, timeout=30) as http:
        before = [http.post(path, json=body(new_token())).status_code for _ in range(5)]
        wrong = http.post(path, json=body(new_token()))
        right = http.post(path, json=body(activation.nonce))

    assert before == [404] * 5
    assert (wrong.status_code, wrong.json()) == (right.status_code, right.json())
    assert wrong.status_code == 429
    assert wrong.json()["error"]["code"] == "activation_locked"
