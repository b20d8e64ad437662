"""The browser's code step of a QR login, on SQLite and PostgreSQL: every way it can end.

The right code from the login's own browser in time confirms the login in one statement; any
other case reads the login to say why, and a wrong code is counted.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from tests.support.identity import SOURCE, App, new_activation, redeem
from zorgid.audit.models import AuditEvent
from zorgid.login.errors import (
    LoginCodeWrongError,
    LoginExpiredError,
    LoginFailedError,
    LoginStateError,
    LoginUnknownError,
)
from zorgid.login.models import LoginSession, LoginState

if TYPE_CHECKING:
    from tests.support.clock import ManualClock
    from zorgid.bootstrap import Container


@dataclasses.dataclass(frozen=True)
class Scanned:
    """A login the app has scanned: the browser's secret, the app's nonce and the code shown."""

    login_id: str
    browser_secret: str
    nonce: str
    device_id: str
    code: str


def _scanned(container: Container) -> Scanned:
    app = App()
    device = redeem(container, new_activation(container), app=app)
    started = asyncio.run(container.logins.start(client_ip=SOURCE, user_agent="pytest"))
    nonce = started.qr_text.split("#", 1)[1]
    shown = asyncio.run(
        container.logins.scan(
            started.login_id,
            nonce=nonce,
            device_id=device.id,
            signature=app.sign("zorgid-login-scan-v1", started.login_id, nonce, device.id),
        )
    )
    return Scanned(started.login_id, started.browser_secret, nonce, device.id, shown.code)


def _type(container: Container, login: Scanned, code: str, *, secret: str | None = None) -> None:
    asyncio.run(
        container.logins.enter_code(
            login.login_id,
            login.browser_secret if secret is None else secret,
            code,
            source=SOURCE,
        )
    )


def _state(container: Container, login: Scanned) -> tuple[LoginState, int]:
    with container.reading() as session:
        row = session.get(LoginSession, login.login_id)
        assert row is not None
        return row.state, row.code_attempts


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


@pytest.fixture
def scanned(container: Container) -> Scanned:
    """A login scanned by an activated app, waiting for its browser to type the code."""
    return _scanned(container)


def test_the_right_code_confirms_and_hands_the_app_its_challenge(
    container: Container, scanned: Scanned
) -> None:
    _type(container, scanned, f" {scanned.code[:3]} {scanned.code[3:]} ")  # as people type it
    assert _state(container, scanned) == (LoginState.CONFIRMED, 0)
    view = asyncio.run(
        container.logins.app_state(
            scanned.login_id, nonce=scanned.nonce, device_id=scanned.device_id
        )
    )
    assert (view.state, view.challenge is not None) == ("confirmed", True)


def test_a_wrong_code_is_counted_and_the_right_one_still_works(
    container: Container, scanned: Scanned
) -> None:
    with pytest.raises(LoginCodeWrongError) as wrong:
        _type(container, scanned, _wrong(scanned.code))
    assert wrong.value.params["remaining_attempts"] == 2
    with pytest.raises(LoginCodeWrongError):
        _type(container, scanned, "12345")  # too short: never matches, still counted
    assert _state(container, scanned) == (LoginState.SCANNED, 2)
    _type(container, scanned, scanned.code)
    assert _state(container, scanned) == (LoginState.CONFIRMED, 2)


def test_three_wrong_codes_end_the_login_and_the_right_one_comes_too_late(
    container: Container, scanned: Scanned
) -> None:
    for _ in range(2):
        with pytest.raises(LoginCodeWrongError):
            _type(container, scanned, _wrong(scanned.code))
    with pytest.raises(LoginFailedError):
        _type(container, scanned, _wrong(scanned.code))
    with pytest.raises(LoginFailedError):
        _type(container, scanned, scanned.code)
    assert _state(container, scanned) == (LoginState.FAILED, 3)
    with container.reading() as session:
        actions = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
    assert actions[-1] == "login.failed"


def test_another_browser_with_the_right_code_is_refused_and_changes_nothing(
    container: Container, scanned: Scanned
) -> None:
    other = asyncio.run(container.logins.start(client_ip=SOURCE, user_agent="intruder"))
    with pytest.raises(LoginUnknownError):
        _type(container, scanned, scanned.code, secret=other.browser_secret)
    assert _state(container, scanned) == (LoginState.SCANNED, 0)


def test_the_right_code_after_the_login_expired_is_refused(
    container: Container, clock: ManualClock, scanned: Scanned
) -> None:
    clock.advance(container.settings.login_ttl_seconds)
    with pytest.raises(LoginExpiredError):
        _type(container, scanned, scanned.code)
    assert _state(container, scanned) == (LoginState.SCANNED, 0)


def test_a_code_before_any_app_scanned_is_refused(container: Container) -> None:
    started = asyncio.run(container.logins.start(client_ip=SOURCE, user_agent="pytest"))
    with pytest.raises(LoginStateError):
        asyncio.run(
            container.logins.enter_code(
                started.login_id, started.browser_secret, "123456", source=SOURCE
            )
        )


def test_a_confirmed_login_takes_no_second_code(container: Container, scanned: Scanned) -> None:
    _type(container, scanned, scanned.code)
    with pytest.raises(LoginStateError):
        _type(container, scanned, scanned.code)
    assert _state(container, scanned) == (LoginState.CONFIRMED, 0)
