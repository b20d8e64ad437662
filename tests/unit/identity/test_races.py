"""Races the issue's Done-when names: 50 requests at once, on SQLite and PostgreSQL.

Every thread has its own session and its own database connection (the pool is as wide as the
crowd), waits at a barrier, and then runs one unit of work exactly as a web request would.
Whatever a thread gets is collected: a refusal's code, or the type and text of anything else,
so that a database error ("database is locked", a serialisation failure) fails the test by name.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from tests.support.identity import App, activated_device, count, enter_pin, new_activation, redeem
from tests.support.portal import confirmed_login
from zorgid.audit.log import verify_chain
from zorgid.audit.models import AuditEvent
from zorgid.db.engine import make_engine, make_session_factory
from zorgid.errors import ZorgidError
from zorgid.identity.models import ActivationCode, Device, DeviceStatus
from zorgid.login.models import LoginSession, LoginState

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from zorgid.bootstrap import Container

CROWD = 50


@pytest.fixture
def wide(container: Container) -> Iterator[Container]:
    """The test's container with a connection for every thread of the crowd."""
    engine = make_engine(container.settings.resolved_database_url, pool_size=CROWD)
    try:
        yield dataclasses.replace(container, engine=engine, sessions=make_session_factory(engine))
    finally:
        engine.dispose()


def _all_at_once(action: Callable[[], object]) -> Counter[str]:
    barrier = threading.Barrier(CROWD)

    def one() -> str:
        barrier.wait(timeout=30)
        try:
            action()
        except ZorgidError as refusal:
            return refusal.code
        except Exception as error:  # noqa: BLE001 - collected, so the test shows what broke
            return f"{type(error).__name__}: {error}"
        return "ok"

    with ThreadPoolExecutor(max_workers=CROWD) as pool:
        return Counter(pool.map(lambda _: one(), range(CROWD)))


def test_fifty_redemptions_of_one_code_register_exactly_one_device(wide: Container) -> None:
    activation = new_activation(wide)
    apps = [App() for _ in range(CROWD)]
    taken = iter(apps)
    lock = threading.Lock()

    def redeem_with_own_app() -> object:
        with lock:
            app = next(taken)
        return redeem(wide, activation, app=app)

    outcomes = _all_at_once(redeem_with_own_app)

    assert outcomes == {"ok": 1, "activation_used": CROWD - 1}
    with wide.unit_of_work() as session:
        assert count(session, Device) == 1
        code = session.get(ActivationCode, activation.activation_id)
        assert code is not None
        assert code.device_id is not None
        assert code.failed_attempts == 0


def test_fifty_wrong_pins_in_login_answers_at_once_use_only_the_three_free_tries(
    container: Container,
) -> None:
    # The login's own path (zorgid.db.raw): on PostgreSQL optimistic compare-and-set with a
    # locking retry, on SQLite the event loop's connection with a thread when the lock is taken.
    app = App()
    device = redeem(container, new_activation(container), app=app)
    confirmed = confirmed_login(container, device_id=device.id, app=app)

    outcomes = _all_at_once(lambda: confirmed.answer(container, device_id=device.id, pin="13579"))

    assert outcomes == {"pin_wrong": 3, "pin_wait": CROWD - 3}
    with container.unit_of_work() as session:
        stored = session.get(Device, device.id)
        assert stored is not None
        assert stored.pin_failures == 3
        assert stored.status is DeviceStatus.ACTIVE
        actions = Counter(session.scalars(select(AuditEvent.action)))
    assert actions["pin.wrong"] == 3
    assert actions["pin.refused"] == CROWD - 3
    assert actions["login.approved"] == 0
    with container.reading() as session:
        assert verify_chain(session, container.keys.audit).intact


def test_fifty_wrong_pins_at_once_use_only_the_three_free_tries(wide: Container) -> None:
    device = activated_device(wide)

    outcomes = _all_at_once(lambda: enter_pin(wide, device.id, "13579"))

    assert outcomes == {"pin_wrong": 3, "pin_wait": CROWD - 3}
    with wide.unit_of_work() as session:
        stored = session.get(Device, device.id)
        assert stored is not None
        assert stored.pin_failures == 3
        assert stored.status is DeviceStatus.ACTIVE


def test_fifty_wrong_codes_at_once_are_counted_and_end_the_login_once(
    container: Container,
) -> None:
    app = App()
    device = redeem(container, new_activation(container), app=app)
    started = asyncio.run(container.logins.start(client_ip="203.0.113.7", user_agent="pytest"))
    nonce = started.qr_text.split("#", 1)[1]
    shown = asyncio.run(
        container.logins.scan(
            started.login_id,
            nonce=nonce,
            device_id=device.id,
            signature=app.sign("zorgid-login-scan-v1", started.login_id, nonce, device.id),
        )
    )
    wrong = f"{(int(shown.code) + 1) % 1_000_000:06d}"

    outcomes = _all_at_once(
        lambda: asyncio.run(
            container.logins.enter_code(
                started.login_id, started.browser_secret, wrong, source="203.0.113.7"
            )
        )
    )

    # Two wrong codes are answered "wrong", the third ends the login; every later one finds
    # it ended. No attempt is lost or counted twice.
    tries = container.settings.login_code_tries
    assert outcomes == {"login_code_wrong": tries - 1, "login_failed": CROWD - (tries - 1)}
    with container.reading() as session:
        login = session.get(LoginSession, started.login_id)
        assert login is not None
        assert (login.state, login.code_attempts) == (LoginState.FAILED, tries)
        assert Counter(session.scalars(select(AuditEvent.action)))["login.failed"] == 1
        assert verify_chain(session, container.keys.audit).intact
