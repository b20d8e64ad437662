"""The hash-chained audit log: intact when untouched, and every kind of tampering found."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select, text

from tests.support.identity import STORY
from zorgid.audit.log import (
    GENESIS,
    AuditLog,
    ChainKey,
    ChainReport,
    append,
    around_seq,
    event_hash,
    verify_chain,
)
from zorgid.audit.models import AuditEvent, AuditHead
from zorgid.db.raw import Change, ConflictError
from zorgid.login.models import LoginSession

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.orm import Session

    from zorgid.bootstrap import Container
    from zorgid.db.raw import Tx

LAST = len(STORY)
KEY = ChainKey(bytes(range(32)))


def _verify(container: Container) -> ChainReport:
    with container.unit_of_work() as session:
        return verify_chain(session, container.keys.audit)


def _event(session: Session, seq: int) -> AuditEvent:
    event = session.get(AuditEvent, seq)
    assert event is not None
    return event


def _tamper(container: Container, change: Callable[[Session], object]) -> None:
    with container.unit_of_work() as session:
        change(session)


def test_an_untouched_log_is_intact(story: Container) -> None:
    report = _verify(story)

    assert report == ChainReport(events=LAST, first_broken=None, reason="")
    assert report.intact


def test_an_empty_log_is_intact(container: Container) -> None:
    assert _verify(container) == ChainReport(events=0, first_broken=None, reason="")


def test_each_event_links_to_the_one_before(story: Container) -> None:
    with story.unit_of_work() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        head = session.get(AuditHead, 1)
    assert [e.seq for e in events] == list(range(1, LAST + 1))
    assert events[0].prev_hash == GENESIS
    assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(events))
    assert head is not None
    assert (head.seq, head.hash) == (LAST, events[-1].hash)


def test_events_keep_no_pin_nonce_or_token(story: Container) -> None:
    with story.unit_of_work() as session:
        written = " ".join(
            repr((e.actor, e.subject, e.source, e.details))
            for e in session.scalars(select(AuditEvent))
        )
    assert "13579" not in written
    assert "24680" not in written
    assert "not-the-nonce" not in written


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("details", {"failures": 0}),
        ("action", "pin.right"),
        ("actor", "person:someone-else"),
        ("subject", "device:another"),
        ("source", "198.51.100.1"),
        ("at", dt.datetime(2026, 5, 1, 11, 59, tzinfo=dt.UTC)),
    ],
)
def test_a_changed_field_is_found_at_its_event(story: Container, field: str, value: object) -> None:
    _tamper(story, lambda s: setattr(_event(s, LAST), field, value))

    report = _verify(story)

    assert not report.intact
    assert report.first_broken == LAST
    assert report.reason == "the event was changed after it was written"


def test_a_changed_middle_event_is_found_at_that_event(story: Container) -> None:
    _tamper(story, lambda s: setattr(_event(s, 3), "details", {"activation": "forged"}))

    assert _verify(story).first_broken == 3


def test_a_changed_event_with_its_hash_recomputed_breaks_the_next_link(story: Container) -> None:
    def forge(session: Session) -> None:
        event = _event(session, 2)
        event.details = {"role": "operator", "ura": "99999999"}
        event.hash = event_hash(story.keys.audit, event.prev_hash, event)

    _tamper(story, forge)

    report = _verify(story)
    assert report.first_broken == 3
    assert report.reason == "the link to the previous event is broken"


@pytest.mark.parametrize("seq", [1, 3])
def test_a_deleted_event_is_found_where_it_is_missing(story: Container, seq: int) -> None:
    _tamper(story, lambda s: s.delete(_event(s, seq)))

    report = _verify(story)

    assert report.first_broken == seq
    assert report.reason == f"event {seq} is missing"


def test_a_deleted_last_event_is_found_through_the_head(story: Container) -> None:
    _tamper(story, lambda s: s.delete(_event(s, LAST)))

    report = _verify(story)

    assert report.first_broken == LAST
    assert report.reason == "events at the end were removed or the head was changed"


def test_swapped_sequence_numbers_are_found_at_the_first_moved_event(story: Container) -> None:
    def swap(session: Session) -> None:
        for old, new in ((2, -2), (3, 2), (-2, 3)):
            session.execute(
                text("UPDATE audit_events SET seq = :new WHERE seq = :old"),
                {"old": old, "new": new},
            )

    _tamper(story, swap)

    report = _verify(story)
    assert report.first_broken == 2
    assert report.reason == "the link to the previous event is broken"


@pytest.mark.parametrize(
    ("column", "value"), [("hash", "f" * 64), ("seq", LAST - 1), ("seq", LAST + 1)]
)
def test_a_tampered_head_is_found(story: Container, column: str, value: object) -> None:
    _tamper(story, lambda s: setattr(s.get(AuditHead, 1), column, value))

    report = _verify(story)

    assert not report.intact
    assert report.reason == "events at the end were removed or the head was changed"


def test_an_event_appended_behind_the_heads_back_is_found(story: Container) -> None:
    def append(session: Session) -> None:
        prev = _event(session, LAST)
        forged = AuditEvent(
            seq=LAST + 1,
            at=prev.at,
            action="membership.granted",
            actor="cli",
            subject=prev.subject,
            source="cli",
            details={"role": "operator", "ura": None},
            prev_hash=prev.hash,
        )
        forged.hash = event_hash(story.keys.audit, prev.hash, forged)
        session.add(forged)

    _tamper(story, append)

    report = _verify(story)
    assert not report.intact
    assert report.events == LAST + 1


def test_the_chain_continues_intact_after_more_events(story: Container) -> None:
    with story.unit_of_work() as session:
        AuditLog(session=session, clock=story.clock, key=story.keys.audit).record(
            "device.revoked", actor="cli", subject="device:x", source="cli", details={"n": 1}
        )

    assert _verify(story) == ChainReport(events=LAST + 1, first_broken=None, reason="")


# SQLite only: PostgreSQL refuses to store text that is not JSON, or not a time, in the first place.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("column", "garbage"), [("details", "{not json"), ("at", "yesterday"), ("at", "2026-13-45")]
)
def test_a_value_tampered_into_garbage_is_found_at_its_event(
    story: Container, column: str, garbage: str
) -> None:
    with story.engine.begin() as connection:
        connection.execute(
            text(f"UPDATE audit_events SET {column} = :garbage WHERE seq = 3"),  # noqa: S608
            {"garbage": garbage},
        )

    report = _verify(story)

    assert report.first_broken == 3
    assert report.reason == "an event cannot be read any more"


# Text a canonical JSON must carry exactly: non-ASCII, a control character, quotes and
# backslashes, and a "seq" inside the details (around_seq must not split there).
AWKWARD: dict[str, object] = {
    "seq": 0,
    "naam": "Zoë van 't Hoff 🩺",
    "nested": {"seq": 7, "list": [1, 2.5, None, True, 'ß\u0000\\"seq":0,']},
    "zz": "after the seq",
}


@pytest.mark.parametrize("seq", [1, 9, 10, 12345])
def test_the_json_around_the_number_hashes_as_event_hash(seq: int) -> None:
    values: dict[str, Any] = {
        "at": dt.datetime(2026, 12, 7, 5, 48, 27, tzinfo=dt.UTC),
        "action": "login.approved",
        "actor": 'device:"seq":0,',
        "subject": "person:ß",
        "source": "app",
        "details": AWKWARD,
    }
    before, after = around_seq(values)
    digest = KEY.mac(f"{GENESIS}\n{before}{seq}{after}")
    assert digest == event_hash(KEY, GENESIS, {**values, "seq": seq})


def _login_with_agent(container: Container) -> str:
    started = asyncio.run(container.logins.start(client_ip="203.0.113.7", user_agent="before"))
    return started.login_id


def _set_agent(login_id: str, agent: str, *, state: str = "pending") -> Change:
    return Change(
        "UPDATE login_sessions SET user_agent = :agent WHERE id = :id AND state = :state",
        {"agent": agent, "id": login_id, "state": state},
    )


def _append(container: Container, changes: list[Change]) -> int:
    async def step(tx: Tx) -> int:
        return await append(
            tx,
            key=container.keys.audit,
            at=container.clock.now(),
            action="test.changed",
            actor="cli",
            subject="person:Zoë",
            source="test",
            details=AWKWARD,
            changes=changes,
        )

    return asyncio.run(container.raw.call(step, write=True))


def test_an_event_appended_with_its_changes_is_hashed_in_the_database_as_event_hash(
    container: Container,
) -> None:
    # On PostgreSQL the changes, the event and its hash are one statement (db.raw.together).
    login_id = _login_with_agent(container)
    first = _append(container, [_set_agent(login_id, "after")])
    second = _append(container, [])
    assert (first, second) == (1, 2)  # starting a login is not audited
    with container.reading() as session:
        event = _event(session, first)
        assert event.details == AWKWARD
        assert event.hash == event_hash(container.keys.audit, event.prev_hash, event)
        assert (
            session.scalar(select(LoginSession.user_agent).where(LoginSession.id == login_id))
            == "after"
        )
    assert _verify(container) == ChainReport(events=2, first_broken=None, reason="")


def test_a_change_that_finds_its_row_changed_undoes_the_others_and_the_event(
    container: Container,
) -> None:
    login_id = _login_with_agent(container)
    other = _login_with_agent(container)
    changes = [_set_agent(login_id, "after"), _set_agent(other, "after", state="approved")]
    with pytest.raises(ConflictError):
        _append(container, changes)
    with container.reading() as session:
        agents = set(session.scalars(select(LoginSession.user_agent)))
        assert agents == {"before"}
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 0
        head = session.get(AuditHead, 1)
        assert head is not None
        assert (head.seq, head.hash) == (0, GENESIS)
    assert _verify(container).intact


def test_events_appended_at_once_from_many_connections_form_one_line(
    container: Container,
) -> None:
    # On PostgreSQL each append is one statement that locks the head for itself.
    crowd = 30
    barrier = threading.Barrier(crowd)

    def one(number: int) -> int:
        async def step(tx: Tx) -> int:
            return await append(
                tx,
                key=container.keys.audit,
                at=container.clock.now(),
                action="test.crowd",
                actor="cli",
                subject=f"n:{number}",
                source="test",
            )

        barrier.wait(timeout=30)
        return asyncio.run(container.raw.call(step, write=True))

    with ThreadPoolExecutor(max_workers=crowd) as pool:
        numbers = sorted(pool.map(one, range(crowd)))
    assert numbers == list(range(1, crowd + 1))
    assert _verify(container) == ChainReport(events=crowd, first_broken=None, reason="")


def test_an_event_given_a_moment_in_another_zone_still_verifies(container: Container) -> None:
    amsterdam = dt.timezone(dt.timedelta(hours=1))

    async def step(tx: Tx) -> int:
        return await append(
            tx,
            key=container.keys.audit,
            at=container.clock.now().astimezone(amsterdam),
            action="test.zone",
            actor="cli",
            subject="person:x",
            source="test",
        )

    assert asyncio.run(container.raw.call(step, write=True)) == 1
    assert _verify(container).intact
