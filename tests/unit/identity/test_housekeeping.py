"""The first audit appends of a new database, and purging what expired long ago."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from tests.support.identity import new_activation
from zorgid.audit.log import verify_chain
from zorgid.identity.models import ActivationCode
from zorgid.login.models import LoginSession

if TYPE_CHECKING:
    from tests.support.clock import ManualClock
    from zorgid.bootstrap import Container


def test_concurrent_first_appends_to_a_new_audit_log_all_succeed(container: Container) -> None:
    barrier = threading.Barrier(8)
    failures: list[BaseException] = []

    def add(index: int) -> None:
        barrier.wait()
        try:
            with container.unit_of_work() as session:
                container.identity(session).add_person(
                    name=f"Person {index}", email=f"p{index}@zorgid.test", actor="cli", source="cli"
                )
        except BaseException as error:  # noqa: BLE001 - collected and asserted below
            failures.append(error)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with container.reading() as session:
        report = verify_chain(session, container.keys.audit)
    assert report.intact
    assert report.events == 8


def test_purge_deletes_only_what_expired_more_than_a_day_ago(
    container: Container, clock: ManualClock
) -> None:
    old = new_activation(container, email="old@zorgid.test")
    asyncio.run(container.logins.start(client_ip="203.0.113.7", user_agent="test"))
    clock.advance(2 * 24 * 3600)
    fresh = new_activation(container, email="fresh@zorgid.test")
    asyncio.run(container.logins.start(client_ip="203.0.113.7", user_agent="test"))
    assert container.purge_expired() == 2  # the old login and the old activation code
    with container.reading() as session:
        codes = set(session.scalars(select(ActivationCode.id)))
        logins = session.scalar(select(func.count()).select_from(LoginSession))
    assert codes == {fresh.activation_id}
    assert old.activation_id not in codes
    assert logins == 1
