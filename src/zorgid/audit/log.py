"""Appending to and checking the hash-chained audit log.

Each event's ``hash`` is SHA-256 over the previous event's hash and a canonical JSON of the
event's own fields; the ``audit_head`` row holds the last link and is locked (``SELECT ... FOR
UPDATE`` on PostgreSQL; SQLite's write lock is already exclusive) while appending, so the events
form one line. Changing, removing or inserting any event breaks the chain from there on, which
:func:`verify_chain` finds. Never put tokens, PINs or document numbers in ``details``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from zorgid.audit.models import AuditEvent, AuditHead
from zorgid.db.base import table
from zorgid.db.raw import SessionTx, apply, drive, together

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.orm import Session

    from zorgid.core.clock import Clock
    from zorgid.db.raw import Change, Tx

GENESIS = "0" * 64
EVENTS = table(AuditEvent)
HEAD = table(AuditHead)
# Appending is on every login's path: plain SQL (see zorgid.db.raw), no ORM.
_HEAD = "SELECT seq, hash FROM audit_head WHERE id = 1"
_INSERT_EVENT = (
    "INSERT INTO audit_events (seq, at, action, actor, subject, source, details, prev_hash, hash)"
    " VALUES (:seq, :at, :action, :actor, :subject, :source, :details, :prev_hash, :hash)"
)
_MOVE_HEAD = "UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1"


def event_hash(prev_hash: str, event: AuditEvent | dict[str, Any]) -> str:
    """The chain hash of ``event`` (a row or its values) following ``prev_hash``."""
    values: dict[str, Any] = (
        event
        if isinstance(event, dict)
        else {
            "seq": event.seq,
            "at": event.at,
            "action": event.action,
            "actor": event.actor,
            "subject": event.subject,
            "source": event.source,
            "details": event.details,
        }
    )
    return hashlib.sha256(f"{prev_hash}\n{_canonical(values)}".encode()).hexdigest()


def _canonical(values: dict[str, Any]) -> str:
    at: dt.datetime = values["at"]
    body = {**values, "at": at.isoformat()}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def around_seq(values: dict[str, Any]) -> tuple[str, str]:
    """The canonical JSON of an event whose ``seq`` is not known yet, around that number.

    :func:`event_hash` hashes the previous hash, a newline and ``before + seq + after``.
    """
    canonical = _canonical({**values, "seq": 0})
    # Keys are sorted: after "seq" come only "source" and "subject", strings in which a quote
    # is escaped; "details", before it, may hold a "seq" of its own. So the last one is ours.
    before, after = canonical.rsplit('"seq":0,', 1)
    return f'{before}"seq":', f",{after}"


#: PostgreSQL appends an event in the statement of its changes (zorgid.db.raw.together): the
#: head is locked only for that statement, and the hash is computed there, as event_hash does.
_APPEND_AFTER_CHANGES = (
    (
        "head",
        (
            "SELECT seq + 1 AS seq, hash AS prev FROM audit_head "
            "WHERE id = 1 AND EXISTS (SELECT 1 FROM ok) FOR UPDATE"
        ),
    ),
    (
        "event",
        (
            "INSERT INTO audit_events (seq, at, action, actor, subject, source, details, "
            "prev_hash, hash) SELECT seq, CAST(:e_at AS timestamptz), :e_action, :e_actor, "
            ":e_subject, :e_source, CAST(:e_details AS json), prev, encode(sha256(convert_to("
            "prev || chr(10) || :e_before || seq || :e_after, 'UTF8')), 'hex') FROM head "
            "RETURNING seq, hash"
        ),
    ),
    (
        "appended",
        (
            "UPDATE audit_head SET seq = event.seq, hash = event.hash FROM event "
            "WHERE audit_head.id = 1 RETURNING event.seq"
        ),
    ),
)


async def append(  # noqa: PLR0913 - the fields of an event
    tx: Tx,
    *,
    at: dt.datetime,
    action: str,
    actor: str,
    subject: str,
    source: str,
    details: dict[str, object] | None = None,
    changes: Sequence[Change] = (),
) -> int:
    """Append one event in ``tx``, with the ``changes`` it records, and return its number.

    The changes and the event commit together or not at all (:class:`~zorgid.db.raw.
    ConflictError` when a change finds its row changed). On PostgreSQL they are one statement.
    """
    values: dict[str, Any] = {
        "at": at.astimezone(dt.UTC).replace(microsecond=0),  # the hash takes the UTC text
        "action": action,
        "actor": actor,
        "subject": subject,
        "source": source,
        "details": details or {},
    }
    if tx.fuses:
        before, after = around_seq(values)
        params = {f"e_{name}": value for name, value in values.items()}
        params.update(
            e_at=tx.time(values["at"]),
            e_details=tx.json(values["details"]),
            e_before=before,
            e_after=after,
        )
        return int((await together(tx, changes, _APPEND_AFTER_CHANGES, params))[0])
    async with tx.atomic():
        await apply(tx, changes)
        # The migration made the head row; it is never deleted (verify_chain reports it if so).
        head = await tx.one(_HEAD + tx.row_lock)
        if head is None:
            msg = "the audit log has no head row: run `zorgid init`"
            raise RuntimeError(msg)
        seq, prev = int(head[0]) + 1, str(head[1])
        values["seq"] = seq
        event = {
            **values,
            "at": tx.time(values["at"]),
            "details": tx.json(values["details"]),
            "prev_hash": prev,
            "hash": event_hash(prev, values),
        }
        await tx.execute(_INSERT_EVENT, event)
        await tx.execute(_MOVE_HEAD, event)
    return seq


class AuditLog:
    """Appends events inside the caller's transaction (they commit or vanish with it)."""

    def __init__(self, *, session: Session, clock: Clock) -> None:
        self._session = session
        self._clock = clock

    def record(
        self,
        action: str,
        *,
        actor: str,
        subject: str,
        source: str,
        details: dict[str, object] | None = None,
    ) -> int:
        """Append one event and return its number.

        Call it last in a transaction, so that the head stays locked briefly.
        """
        return drive(
            append(
                SessionTx(self._session),
                at=self._clock.now(),
                action=action,
                actor=actor,
                subject=subject,
                source=source,
                details=details,
            )
        )

    def recent(
        self, limit: int, *, before: int | None = None, subject: str | None = None
    ) -> list[AuditEntry]:
        """Up to ``limit`` events, newest first, from before event ``before``, about ``subject``."""
        query = select(*EVENTS.c).order_by(EVENTS.c.seq.desc()).limit(max(0, limit))
        if before is not None:
            query = query.where(EVENTS.c.seq < before)
        if subject is not None:
            query = query.where(EVENTS.c.subject == subject)
        return [
            AuditEntry(
                seq=row.seq,
                at=row.at,
                action=row.action,
                actor=row.actor,
                subject=row.subject,
                source=row.source,
                details=dict(row.details or {}),
            )
            for row in self._session.connection().execute(query)
        ]


@dataclass(frozen=True)
class AuditEntry:
    """One event as read back, for display."""

    seq: int
    at: dt.datetime
    action: str
    actor: str
    subject: str
    source: str
    details: dict[str, object]


@dataclass(frozen=True)
class ChainReport:
    """What :func:`verify_chain` found."""

    events: int
    first_broken: int | None  # seq of the first event that does not fit, or None
    reason: str  # "" when intact; else what is wrong (English, for logs and --json)

    @property
    def intact(self) -> bool:
        """Whether every event is where and what the chain says."""
        return self.first_broken is None


def verify_chain(session: Session) -> ChainReport:
    """Walk the whole chain in order and check every link and the head."""
    # Plain rows, not ORM objects: each row is decoded only when the walk reaches it, so a value
    # tampered into something unreadable (not JSON, not a time) is reported at its place in the
    # chain instead of ending the walk with an exception (and no identity map fills up).
    rows = iter(
        session.connection().execute(
            select(*AuditEvent.__table__.columns)
            .order_by(AuditEvent.seq)
            .execution_options(yield_per=1000)
        )
    )
    prev, expected_seq, count = GENESIS, 1, 0
    while True:
        try:
            row = next(rows, None)
        except (ValueError, TypeError):
            return ChainReport(count + 1, expected_seq, "an event cannot be read any more")
        if row is None:
            break
        event = AuditEvent(**row._asdict())
        count += 1
        if event.seq != expected_seq:
            return ChainReport(count, expected_seq, f"event {expected_seq} is missing")
        if event.prev_hash != prev:
            return ChainReport(count, event.seq, "the link to the previous event is broken")
        if event_hash(prev, event) != event.hash:
            return ChainReport(count, event.seq, "the event was changed after it was written")
        prev, expected_seq = event.hash, expected_seq + 1
    head = session.get(AuditHead, 1)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    if head_seq != count or head_hash != prev:
        return ChainReport(
            count,
            count + 1 if head_seq > count else count,
            "events at the end were removed or the head was changed",
        )
    return ChainReport(count, None, "")


def moment(at: dt.datetime) -> str:
    """How an audit time is shown."""
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")
