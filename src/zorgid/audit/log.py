"""Appending to and checking the keyed, hash-chained audit log.

Each event's ``hash`` is HMAC-SHA256, under the audit key (``audit.key``, kept outside the
database like ``pin.key``), over the previous event's hash and a canonical JSON of the event's
own fields; the ``audit_head`` row holds the last link and is locked (``SELECT ... FOR UPDATE``
on PostgreSQL; SQLite's write lock is already exclusive) while appending, so the events form one
line. Changing, removing or inserting any event breaks the chain from there on, which
:func:`verify_chain` finds; without the key nobody can compute the hashes of a rewritten chain.
Removing the newest events and moving the head back keeps a shorter chain valid: signed
checkpoints of the head published elsewhere (:mod:`zorgid.audit.checkpoints`) catch that.
Never put tokens, PINs or document numbers in ``details``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select

from zorgid.audit.models import AuditEvent, AuditHead
from zorgid.core.i18n import N_, Message
from zorgid.db.base import table
from zorgid.db.raw import SessionTx, apply, drive, together

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

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


#: HMAC's block size for SHA-256 and its two pads (RFC 2104).
_BLOCK = 64
_IPAD, _OPAD = 0x36, 0x5C


@dataclass(frozen=True)
class ChainKey:
    """The audit key: HMAC-SHA256 over each link of the chain (never stored in the database).

    ``inner`` and ``outer`` are the key XOR ipad and XOR opad, padded to SHA-256's block: with
    them, ``sha256(outer || sha256(inner || message))`` is exactly HMAC-SHA256 (RFC 2104), which
    PostgreSQL computes with its built-in ``sha256`` when it appends an event (no pgcrypto).
    They are worth as much as the key itself.
    """

    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not 0 < len(self.key) <= _BLOCK:
            msg = f"an audit key has 1 to {_BLOCK} bytes, not {len(self.key)}"
            raise ValueError(msg)

    @functools.cached_property
    def inner(self) -> bytes:
        """The key XOR ipad, padded to the block."""
        return bytes(b ^ _IPAD for b in self.key.ljust(_BLOCK, b"\0"))

    @functools.cached_property
    def outer(self) -> bytes:
        """The key XOR opad, padded to the block."""
        return bytes(b ^ _OPAD for b in self.key.ljust(_BLOCK, b"\0"))

    def mac(self, message: str) -> str:
        """HMAC-SHA256 of ``message`` (UTF-8), in hex."""
        return hmac.new(self.key, message.encode(), hashlib.sha256).hexdigest()


def _values(event: AuditEvent | Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(event, AuditEvent):
        return dict(event)
    return {
        "seq": event.seq,
        "at": event.at,
        "action": event.action,
        "actor": event.actor,
        "subject": event.subject,
        "source": event.source,
        "details": event.details,
    }


def event_hash(key: ChainKey, prev_hash: str, event: AuditEvent | Mapping[str, Any]) -> str:
    """The chain hash of ``event`` (a row or its values) following ``prev_hash``, under ``key``."""
    return key.mac(f"{prev_hash}\n{_canonical(_values(event))}")


def plain_hash(prev_hash: str, event: AuditEvent | Mapping[str, Any]) -> str:
    """The unkeyed SHA-256 link of chains written before the audit key (only to recognise them)."""
    text = f"{prev_hash}\n{_canonical(_values(event))}"
    return hashlib.sha256(text.encode()).hexdigest()


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
#: head is locked only for that statement, and the hash is computed there, as event_hash does:
#: HMAC-SHA256 from the key's two pads (ChainKey.inner, .outer) and PostgreSQL's sha256.
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
            ":e_subject, :e_source, CAST(:e_details AS json), prev, encode(sha256("
            "CAST(:e_outer AS bytea) || sha256(CAST(:e_inner AS bytea) || convert_to("
            "prev || chr(10) || :e_before || seq || :e_after, 'UTF8'))), 'hex') FROM head "
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
    key: ChainKey,
    at: dt.datetime,
    action: str,
    actor: str,
    subject: str,
    source: str,
    details: dict[str, object] | None = None,
    changes: Sequence[Change] = (),
) -> int:
    """Append one event in ``tx``, chained under ``key``, with the ``changes`` it records.

    Returns the event's number.
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
            e_inner=key.inner,
            e_outer=key.outer,
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
            "hash": event_hash(key, prev, values),
        }
        await tx.execute(_INSERT_EVENT, event)
        await tx.execute(_MOVE_HEAD, event)
    return seq


class AuditLog:
    """Appends events inside the caller's transaction (they commit or vanish with it)."""

    def __init__(self, *, session: Session, clock: Clock, key: ChainKey) -> None:
        self._session = session
        self._clock = clock
        self.key = key

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
                key=self.key,
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
    #: How many checkpoints the chain was held against.
    checkpoints: int = 0
    #: The reason as a person reads it (any language).
    why: Message | None = field(default=None, compare=False)

    @property
    def intact(self) -> bool:
        """Whether every event is where and what the chain says."""
        return self.first_broken is None


class Anchor(Protocol):
    """A checkpoint as :func:`verify_chain` holds the chain against it."""

    @property
    def name(self) -> str:
        """How the person finds it (its file name)."""
        ...

    @property
    def seq(self) -> int:
        """The number of the last event it saw."""
        ...

    @property
    def hash(self) -> str:
        """That event's hash."""
        ...


def _broken(events: int, seq: int, why: Message, *, reason: str = "") -> ChainReport:
    return ChainReport(events, seq, reason or str(why), why=why)


def verify_chain(
    session: Session, key: ChainKey, checkpoints: Sequence[Anchor] = ()
) -> ChainReport:
    """Walk the whole chain in order and check every link, the head and ``checkpoints``.

    A checkpoint holds when the chain has its event with its hash; an event it does not find
    (the log ends before it) or finds with another hash is reported there.
    """
    anchored: dict[int, list[Anchor]] = {}
    for checkpoint in checkpoints:
        anchored.setdefault(checkpoint.seq, []).append(checkpoint)
    count, prev, broken = _walk(session, key, anchored)
    if broken is not None:
        return broken
    head = session.get(AuditHead, 1)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    if head_seq != count or head_hash != prev:
        return _broken(
            count,
            count + 1 if head_seq > count else count,
            Message(N_("events at the end were removed or the head was changed")),
        )
    if anchored:  # checkpoints of events the walk never reached
        beyond = max(anchored)
        return _broken(
            count,
            count + 1,
            Message(
                N_(
                    "the log ends at event {last}, but checkpoint {checkpoint} saw it up to event "
                    "{seq}: events at the end were removed"
                ),
                {"last": count, "checkpoint": anchored[beyond][0].name, "seq": beyond},
            ),
        )
    return ChainReport(count, None, "", checkpoints=len(checkpoints))


def _walk(
    session: Session, key: ChainKey, anchored: dict[int, list[Anchor]]
) -> tuple[int, str, ChainReport | None]:
    """Follow the events: how many, the last hash, and the first that does not fit (if any).

    The checkpoints of each event reached are taken out of ``anchored``.
    """
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
    prev, count = GENESIS, 0
    while True:
        try:
            row = next(rows, None)
        except (ValueError, TypeError):
            unreadable = Message(N_("an event cannot be read any more"))
            return count, prev, _broken(count + 1, count + 1, unreadable)
        if row is None:
            return count, prev, None
        event = AuditEvent(**row._asdict())
        count += 1
        if event.seq != count:
            missing = Message(N_("the event is missing"))
            return count, prev, _broken(count, count, missing, reason=f"event {count} is missing")
        why = _misfit(key, prev, event, anchored.pop(event.seq, ()))
        if why is not None:
            return count, prev, _broken(count, event.seq, why)
        prev = event.hash


def _misfit(
    key: ChainKey, prev: str, event: AuditEvent, checkpoints: Sequence[Anchor]
) -> Message | None:
    """Why ``event`` does not follow ``prev`` or its ``checkpoints``; None when it does."""
    if event.prev_hash != prev:
        return Message(N_("the link to the previous event is broken"))
    if event_hash(key, prev, event) != event.hash:
        return _unkeyed(prev, event)
    for checkpoint in checkpoints:
        if checkpoint.hash != event.hash:
            return Message(
                N_(
                    "the event differs from checkpoint {checkpoint}: the log was rewritten at "
                    "or before this event"
                ),
                {"checkpoint": checkpoint.name},
            )
    return None


def _unkeyed(prev: str, event: AuditEvent) -> Message:
    """Why an event's hash is not its HMAC: changed, or (recognisably) written without the key."""
    if plain_hash(prev, event) != event.hash:
        if event.seq == 1:
            return Message(
                N_(
                    "the event does not match its hash: it was changed, or the audit key is not "
                    "the one that wrote the log"
                )
            )
        return Message(N_("the event was changed after it was written"))
    if event.seq == 1:
        return Message(
            N_(
                "the event's hash was computed without the audit key: the log was written by a "
                "version of zorgid before the key (see docs/operations.md, audit log) or rewritten"
            )
        )
    return Message(
        N_("the event's hash was computed without the audit key: the log was rewritten here")
    )


def moment(at: dt.datetime) -> str:
    """How an audit time is shown."""
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")
