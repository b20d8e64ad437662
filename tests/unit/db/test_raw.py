"""The login path's plain SQL (zorgid.db.raw) against the ORM's rows, locks and failures."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from tests.support.db import PUBLIC_URL, _sqlite_database
from tests.support.identity import PIN, App, new_activation, redeem
from tests.support.portal import confirmed_login
from zorgid.bootstrap import build
from zorgid.db.raw import Change, ConflictError, SessionTx, apply, drive, read_time
from zorgid.identity.models import Device
from zorgid.login.models import LoginSession, LoginState
from zorgid.settings import Settings

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.clock import ManualClock
    from zorgid.bootstrap import Container
    from zorgid.db.raw import Tx


def test_a_login_written_by_the_login_path_reads_back_the_same_through_the_orm(
    container: Container, clock: ManualClock
) -> None:
    started = asyncio.run(container.logins.start(client_ip="203.0.113.7", user_agent="t"))
    with container.reading() as session:
        row = session.get(LoginSession, started.login_id)
        assert row is not None
        assert row.state is LoginState.PENDING
        assert row.created_at == clock.now()
        assert row.expires_at == started.expires_at


def test_an_approval_counts_the_pin_and_marks_the_device_used_in_the_orms_eyes(
    container: Container, clock: ManualClock
) -> None:
    app = App()
    device = redeem(container, new_activation(container), app=app)
    confirmed = confirmed_login(container, device_id=device.id, app=app)
    moment = clock.advance(5)
    profile = confirmed.answer(container, device_id=device.id, pin=PIN)
    assert profile is not None
    with container.reading() as session:
        stored = session.get(Device, device.id)
        login = session.get(LoginSession, confirmed.login_id)
        assert stored is not None
        assert stored.last_used_at == moment
        assert stored.pin_failures == 0
        assert login is not None
        assert login.state is LoginState.APPROVED
        assert login.person_id == device.person_id


def test_a_write_waits_for_a_sqlite_lock_held_by_another_process_instead_of_failing(
    tmp_path: Path, clock: ManualClock
) -> None:
    url = _sqlite_database(tmp_path)  # SQLite's one write lock: no PostgreSQL twin
    container = build(
        Settings(data_dir=tmp_path, database_url=url, public_url=PUBLIC_URL),
        clock=clock,
        create_keys=True,
    )
    other = sqlite3.connect(
        url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False
    )
    other.execute("BEGIN IMMEDIATE")  # another process writing: the lock is taken
    released = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    released.start()
    try:
        # The event loop's connection must not wait (or fail): the step goes to a thread
        # that queues for the lock and completes once it is free.
        started = asyncio.run(container.logins.start(client_ip="203.0.113.7", user_agent="t"))
    finally:
        released.join()
        other.close()
    try:
        with container.reading() as session:
            assert session.get(LoginSession, started.login_id) is not None
    finally:
        container.close()


def test_a_step_on_the_orms_transaction_must_not_suspend(container: Container) -> None:
    async def suspends(_tx: Tx) -> None:
        await asyncio.sleep(0)

    with container.unit_of_work() as session, pytest.raises(RuntimeError, match="suspended"):
        drive(suspends(SessionTx(session)))


def test_a_lost_compare_and_set_runs_the_step_again_locking(container: Container) -> None:
    attempts: list[bool] = []

    async def step(tx: Tx) -> str:
        attempts.append(tx.locking)
        if not tx.locking:
            raise ConflictError("someone came first")
        row = await tx.one("SELECT hash FROM audit_head WHERE id = :id", {"id": 1})
        assert row is not None
        return str(row[0])

    assert asyncio.run(container.raw.call(step, write=True)) == "0" * 64
    # SQLite's transaction is exclusive, so it locks from the start; PostgreSQL tries first.
    expected = [True] if container.raw.dialect == "sqlite" else [False, True]
    assert attempts == expected


def test_stored_times_read_back_as_aware_utc(container: Container, clock: ManualClock) -> None:
    started = asyncio.run(container.logins.start(client_ip="203.0.113.7", user_agent="t"))

    async def created(tx: Tx) -> object:
        row = await tx.one(
            "SELECT created_at FROM login_sessions WHERE id = :id", {"id": started.login_id}
        )
        assert row is not None
        return read_time(row[0])

    assert asyncio.run(container.raw.call(created, write=False)) == clock.now()
    with container.unit_of_work() as session:
        assert session.scalar(select(LoginSession.id)) == started.login_id


def test_only_a_change_that_was_made_is_announced_after_the_commit(
    container: Container,
) -> None:
    started = asyncio.run(container.logins.start(client_ip="203.0.113.7", user_agent="t"))
    announced: list[str] = []

    def agent(value: str, state: str) -> Change:
        return Change(
            "UPDATE login_sessions SET user_agent = :agent WHERE id = :id AND state = :state",
            {"agent": value, "id": started.login_id, "state": state},
            on_commit=lambda: announced.append(value),
        )

    async def step(tx: Tx) -> None:
        with pytest.raises(ConflictError):  # the caller goes on after a lost compare-and-set
            await apply(tx, [agent("lost", "approved")])
        await apply(tx, [agent("made", "pending")])

    asyncio.run(container.raw.call(step, write=True))
    assert announced == ["made"]
