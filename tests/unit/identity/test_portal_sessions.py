"""Portal sessions end after 15 idle minutes or 8 hours, whichever is first (SQLite, PostgreSQL).

A session in use has its end moved on at most once a minute, so most page views only read.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import TYPE_CHECKING

import pytest

from tests.support.portal import portal_session
from zorgid.bootstrap import build
from zorgid.core.tokens import hash_token
from zorgid.identity.models import Role
from zorgid.login.errors import SessionInvalidError
from zorgid.login.models import PortalSession

if TYPE_CHECKING:
    from tests.support.clock import ManualClock
    from zorgid.bootstrap import Container
    from zorgid.settings import Settings

MINUTE = 60


def _visit(container: Container, token: str) -> str:
    return asyncio.run(container.logins.portal_person(token)).name


def _gone(container: Container, token: str) -> None:
    with pytest.raises(SessionInvalidError):
        asyncio.run(container.logins.portal_person(token))


def _end(container: Container, token: str) -> dt.datetime:
    with container.reading() as session:
        row = session.get(PortalSession, hash_token(token))
        assert row is not None
        return row.expires_at


def _login(container: Container) -> str:
    return portal_session(
        container, email="olga@zorgid.test", roles=[(Role.OPERATOR, None)], name="Olga"
    )


def test_a_session_left_alone_for_15_minutes_has_ended(
    container: Container, clock: ManualClock
) -> None:
    assert container.settings.session_idle_minutes == 15  # the default
    token = _login(container)
    clock.advance(15 * MINUTE - 1)
    assert _visit(container, token) == "Olga"
    clock.advance(15 * MINUTE - 1)  # used a moment ago: still on
    assert _visit(container, token) == "Olga"

    clock.advance(15 * MINUTE)

    _gone(container, token)


def test_a_session_in_use_still_ends_8_hours_after_its_login(
    container: Container, clock: ManualClock
) -> None:
    token = _login(container)
    ttl = container.settings.session_ttl_minutes
    for _ in range(ttl // 10 - 1):
        clock.advance(10 * MINUTE)
        assert _visit(container, token) == "Olga"
    # Its end never moves past the login's eight hours.
    assert _end(container, token) == clock.now() + dt.timedelta(minutes=10)

    clock.advance(10 * MINUTE)

    _gone(container, token)


def test_a_session_is_written_at_most_once_a_minute(
    container: Container, clock: ManualClock
) -> None:
    token = _login(container)
    first = _end(container, token)
    assert first == clock.now() + dt.timedelta(minutes=15)

    clock.advance(30)
    _visit(container, token)
    assert _end(container, token) == first  # read only

    now = clock.advance(31)
    _visit(container, token)
    assert _end(container, token) == now + dt.timedelta(minutes=15)  # moved on


def test_an_idle_end_of_zero_keeps_only_the_absolute_end(
    settings: Settings, clock: ManualClock
) -> None:
    container = build(settings.replace(session_idle_minutes=0), clock=clock, create_keys=True)
    try:
        token = _login(container)
        clock.advance(4 * 60 * MINUTE)
        assert _visit(container, token) == "Olga"
        clock.advance(4 * 60 * MINUTE)
        _gone(container, token)
    finally:
        container.close()
