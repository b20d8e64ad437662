"""A device's key and PIN, and a person's profile: the identity steps on every login's path.

They are plain SQL over a :class:`~zorgid.db.raw.Tx`, so they run both in a login step (no ORM)
and inside an ORM unit of work (:class:`~zorgid.db.raw.SessionTx`).

PIN attempts are reserved by compare-and-set: the failure count written is the count read plus
one, ``WHERE`` the row still holds the count read. Whatever runs concurrently, each counted
attempt follows the one before, so a race cannot squeeze in an extra guess (security.md).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zorgid.audit.log import append
from zorgid.db.raw import Change, apply, read_time
from zorgid.identity.errors import (
    DeviceBlockedError,
    DeviceRevokedError,
    DeviceUnknownError,
    PinWaitError,
    PinWrongError,
    PinWrongWaitError,
)
from zorgid.identity.models import DeviceStatus, Role
from zorgid.identity.pin import pin_matches

if TYPE_CHECKING:
    from collections.abc import Sequence

    from zorgid.audit.log import ChainKey
    from zorgid.db.raw import Row, Tx
    from zorgid.errors import ZorgidError
    from zorgid.settings import Settings

MAX_ID_LENGTH = 32  # longer identifiers are not ours: refuse them before any query

#: The columns of :class:`DeviceRow`, in order, for queries that join a device (as ``d``).
DEVICE_COLUMNS = (
    "d.id, d.person_id, d.public_key, d.status, d.pin_salt, d.pin_mac, d.pin_failures, "
    "d.pin_next_try_at"
)
_UPDATE_PIN_STATE = (
    "UPDATE devices SET pin_failures = :failures, pin_next_try_at = :next_try, "
    "status = :status, last_used_at = COALESCE(:used, last_used_at) "
    "WHERE id = :id AND pin_failures = :seen AND status = 'active'"
)
#: A person's name and roles: select these columns, from ``persons p`` and these joins, and
#: order by ``m.id`` (:func:`profile_of` reads the rows).
PROFILE_COLUMNS = "p.name, m.role, o.ura, o.name"
PROFILE_JOINS = (
    "LEFT OUTER JOIN memberships m ON m.person_id = p.id "
    "LEFT OUTER JOIN organisations o ON o.id = m.organisation_id"
)
_PROFILE = f"SELECT {PROFILE_COLUMNS} FROM persons p {PROFILE_JOINS} WHERE p.id = :id ORDER BY m.id"


@dataclass(frozen=True)
class DeviceRow:
    """What a login needs of a device: its key and its PIN state."""

    id: str
    person_id: str
    public_key: bytes
    status: DeviceStatus
    pin_salt: bytes
    pin_mac: bytes
    pin_failures: int
    pin_next_try_at: dt.datetime | None

    @classmethod
    def of(cls, row: Row, start: int = 0) -> DeviceRow | None:
        """The device in ``row[start:]`` (the columns of :data:`DEVICE_COLUMNS`), if any."""
        values = row[start : start + 8]
        if values[0] is None:
            return None
        return cls(
            id=values[0],
            person_id=values[1],
            public_key=bytes(values[2]),
            status=DeviceStatus(values[3]),
            pin_salt=bytes(values[4]),
            pin_mac=bytes(values[5]),
            pin_failures=values[6],
            pin_next_try_at=read_time(values[7]),
        )

    def usable(self) -> DeviceRow:
        """This device, or the refusal of a blocked or revoked one."""
        refuse_unusable(self.status)
        return self


def refuse_unusable(status: DeviceStatus) -> None:
    """Refuse a device that is not active."""
    if status is DeviceStatus.BLOCKED:
        raise DeviceBlockedError
    if status is DeviceStatus.REVOKED:
        raise DeviceRevokedError


async def find_device(tx: Tx, device_id: str) -> DeviceRow | None:
    """The device ``device_id`` as it is (locked when the step locks), or None."""
    if len(device_id) > MAX_ID_LENGTH:
        return None
    row = await tx.one(
        f"SELECT {DEVICE_COLUMNS} FROM devices d WHERE d.id = :id{tx.for_update}",
        {"id": device_id},
    )
    return None if row is None else DeviceRow.of(row)


async def read_device(tx: Tx, device_id: str) -> DeviceRow:
    """A usable device (locked when the step locks), or the refusal."""
    device = await find_device(tx, device_id)
    if device is None:
        raise DeviceUnknownError
    return device.usable()


@dataclass(frozen=True)
class PinPolicy:
    """The PIN's rules (docs/protocol.md, "PIN") and the key of its material."""

    key: bytes
    free_tries: int
    max_failures: int
    backoff_seconds: int

    @classmethod
    def of(cls, settings: Settings, key: bytes) -> PinPolicy:
        """The policy the settings describe."""
        return cls(
            key=key,
            free_tries=settings.pin_free_tries,
            max_failures=settings.pin_max_failures,
            backoff_seconds=settings.pin_backoff_seconds,
        )


@dataclass(frozen=True)
class PinAttempt:
    """What one PIN attempt decides: the device's new PIN state, the event, the refusal.

    ``changes`` is a compare-and-set on the failure count read (none when nothing is
    counted: a try during the wait); ``event`` is the audit event (action, details) of a
    refusal; ``error`` is the refusal (None when the PIN is right).
    """

    changes: tuple[Change, ...]
    event: tuple[str, dict[str, object]] | None
    error: ZorgidError | None

    async def record(  # noqa: PLR0913 - the attempt and its context
        self,
        tx: Tx,
        device: DeviceRow,
        *,
        now: dt.datetime,
        source: str,
        audit_key: ChainKey,
        also: Sequence[Change] = (),
    ) -> None:
        """Write what the attempt decided, ``also`` with it, then raise the refusal if any.

        A login's approval writes :attr:`changes` with its own event instead.
        """
        changes = [*also, *self.changes]
        if self.event is not None:
            action, details = self.event
            subject = f"device:{device.id}"
            await append(
                tx,
                key=audit_key,
                at=now,
                action=action,
                actor=subject,
                subject=subject,
                source=source,
                details=details,
                changes=changes,
            )
        else:
            async with tx.atomic():  # several changes commit together or not at all
                await apply(tx, changes)
        if self.error is not None:
            raise self.error


def judge_pin(device: DeviceRow, pin: str, *, policy: PinPolicy, now: dt.datetime) -> PinAttempt:
    """Count an attempt of ``pin`` on ``device`` as it was read: pass, wrong, wait or blocked.

    Its change, a compare-and-set, fails (:class:`~zorgid.db.raw.ConflictError`) when another
    attempt came first; the step then runs again with the device read anew.
    """
    remaining = policy.max_failures - device.pin_failures
    if device.pin_next_try_at is not None and device.pin_next_try_at > now:
        wait = int((device.pin_next_try_at - now).total_seconds() + 0.999)
        return PinAttempt(
            (),
            ("pin.refused", {"reason": "wait", "retry_after": wait}),
            PinWaitError(retry_after=wait, remaining_attempts=remaining),
        )
    if pin_matches(policy.key, device.id, device.pin_salt, pin, device.pin_mac):
        return PinAttempt((_pin_state(device, failures=0, used=now),), None, None)
    failures = device.pin_failures + 1
    if failures >= policy.max_failures:
        return PinAttempt(
            (_pin_state(device, failures=failures, status=DeviceStatus.BLOCKED),),
            ("device.blocked", {"failures": failures}),
            DeviceBlockedError("too many wrong PINs"),
        )
    remaining = policy.max_failures - failures
    if failures < policy.free_tries:
        return PinAttempt(
            (_pin_state(device, failures=failures),),
            ("pin.wrong", {"failures": failures}),
            PinWrongError(remaining_attempts=remaining),
        )
    # This wrong PIN starts a wait: its answer says how long, as the refusals during it do.
    delay = policy.backoff_seconds * 2 ** (failures - policy.free_tries)
    return PinAttempt(
        (_pin_state(device, failures=failures, next_try=now + dt.timedelta(seconds=delay)),),
        ("pin.wrong", {"failures": failures}),
        PinWrongWaitError(remaining_attempts=remaining, retry_after=delay),
    )


async def check_pin(  # noqa: PLR0913 - an attempt and its context
    tx: Tx,
    device: DeviceRow,
    pin: str,
    *,
    policy: PinPolicy,
    now: dt.datetime,
    source: str,
    audit_key: ChainKey,
) -> None:
    """Count the attempt, then answer: pass, :class:`PinWrongError` or a refusal."""
    attempt = judge_pin(device, pin, policy=policy, now=now)
    await attempt.record(tx, device, now=now, source=source, audit_key=audit_key)


def _pin_state(
    device: DeviceRow,
    *,
    failures: int,
    next_try: dt.datetime | None = None,
    status: DeviceStatus = DeviceStatus.ACTIVE,
    used: dt.datetime | None = None,
) -> Change:
    return Change(
        _UPDATE_PIN_STATE,
        {
            "id": device.id,
            "seen": device.pin_failures,
            "failures": failures,
            "next_try": next_try,
            "status": status.value,
            "used": used,
        },
    )


@dataclass(frozen=True)
class MembershipView:
    """One role of a person, for display."""

    role: Role
    ura: str | None
    organisation: str | None


@dataclass(frozen=True)
class Profile:
    """What the app shows under "ID" and the portal on its home page."""

    person_id: str
    name: str
    memberships: tuple[MembershipView, ...]

    def as_json(self) -> dict[str, object]:
        """The ``person`` and ``memberships`` of the app API (docs/protocol.md)."""
        return {
            "person": {"name": self.name},
            "memberships": [
                {
                    "role": m.role.value,
                    "organisation": (
                        {"ura": m.ura, "name": m.organisation} if m.ura is not None else None
                    ),
                }
                for m in self.memberships
            ],
        }


async def read_profile(tx: Tx, person_id: str) -> Profile:
    """A person's name and roles, in one query."""
    return profile_of(person_id, await tx.all(_PROFILE, {"id": person_id}))


def profile_of(person_id: str, rows: list[Row], start: int = 0) -> Profile:
    """The profile in the :data:`PROFILE_COLUMNS` of ``rows``, from column ``start`` on."""
    if not rows:
        raise DeviceUnknownError("person vanished")
    return Profile(
        person_id=person_id,
        name=rows[0][start],
        memberships=tuple(
            MembershipView(role=Role(role), ura=ura, organisation=organisation)
            for role, ura, organisation in (row[start + 1 : start + 4] for row in rows)
            if role is not None
        ),
    )
