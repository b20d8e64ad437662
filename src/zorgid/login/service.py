"""QR login: a browser waits, an app scans, the person types the app's code, then approves.

Each step is a function of a :class:`~zorgid.db.raw.Tx` (plain SQL, no ORM: these steps are on
the path of every login of the country). A step reads the login, decides, and changes it with a
compare-and-set (``UPDATE ... WHERE`` the state, attempts and code it read), so each transition
happens once, however many requests race: a lost race re-runs the step, locking
(:mod:`zorgid.db.raw`). Changes that belong together (an approval, its PIN attempt and its audit
event) commit together. See docs/protocol.md for the messages and the states.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import delete, or_

from zorgid.audit.log import append
from zorgid.core.i18n import N_, Message
from zorgid.core.protocol import answer_string, scan_string
from zorgid.core.tokens import hash_token, new_digits, new_id, new_token, same_token
from zorgid.core.useragent import browser_label
from zorgid.db.base import table
from zorgid.db.raw import Change, apply, read_time
from zorgid.identity.devicekeys import stored_device_key, verify_device_signature
from zorgid.identity.devices import (
    DEVICE_COLUMNS,
    MAX_ID_LENGTH,
    PROFILE_COLUMNS,
    PROFILE_JOINS,
    DeviceRow,
    PinPolicy,
    Profile,
    find_device,
    judge_pin,
    profile_of,
    read_device,
    read_profile,
)
from zorgid.identity.errors import BadRequestError, DeviceBlockedError, DeviceUnknownError
from zorgid.identity.models import DeviceStatus
from zorgid.login.errors import (
    LoginCodeWrongError,
    LoginExpiredError,
    LoginFailedError,
    LoginStateError,
    LoginTakenError,
    LoginUnknownError,
    SessionInvalidError,
)
from zorgid.login.events import CHANNEL
from zorgid.login.models import LoginSession, LoginState, PortalSession

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from sqlalchemy.orm import Session

    from zorgid.audit.log import ChainKey
    from zorgid.core.clock import Clock
    from zorgid.db.raw import RawDatabase, Row, Tx
    from zorgid.login.events import LoginEvents
    from zorgid.settings import Settings

T = TypeVar("T")
#: A used portal session's end is moved on at most this often (one write a minute at most).
TOUCH_INTERVAL = dt.timedelta(minutes=1)
FINAL_STATES = frozenset({LoginState.COMPLETED, LoginState.DECLINED, LoginState.FAILED})
CODE_DIGITS = 6

_LOGIN_COLUMNS = (
    "l.id, l.browser_hash, l.nonce_hash, l.challenge, l.code_hash, l.code_attempts, l.state, "
    "l.device_id, l.person_id, l.client_ip, l.user_agent, l.created_at, l.expires_at"
)
_LOGIN = f"SELECT {_LOGIN_COLUMNS} FROM login_sessions l WHERE l.id = :id"
#: The login and a device in one round trip (the device of ``:device``, or the login's own).
_LOGIN_AND_DEVICE = (
    f"SELECT {_LOGIN_COLUMNS}, {DEVICE_COLUMNS} FROM login_sessions l "
    "LEFT OUTER JOIN devices d ON d.id = COALESCE(:device, l.device_id) WHERE l.id = :id"
)
#: The same and the device's person with their roles (an answer shows them when approved).
_LOGIN_DEVICE_PROFILE = (
    f"SELECT {_LOGIN_COLUMNS}, {DEVICE_COLUMNS}, {PROFILE_COLUMNS} FROM login_sessions l "
    "LEFT OUTER JOIN devices d ON d.id = COALESCE(:device, l.device_id) "
    f"LEFT OUTER JOIN persons p ON p.id = d.person_id {PROFILE_JOINS} "
    "WHERE l.id = :id ORDER BY m.id"
)
_INSERT_LOGIN = (
    "INSERT INTO login_sessions (id, browser_hash, nonce_hash, challenge, code_hash, "
    "code_attempts, state, device_id, person_id, client_ip, user_agent, created_at, expires_at) "
    "VALUES (:id, :browser_hash, :nonce_hash, :challenge, NULL, 0, 'pending', NULL, NULL, "
    ":client_ip, :user_agent, :created_at, :expires_at)"
)
#: Compare-and-set: the row must still be as the step read it.
_SEEN = (
    " WHERE id = :id AND state = :seen_state AND code_attempts = :seen_attempts"
    " AND COALESCE(code_hash, '') = :seen_code"
)
_INSERT_PORTAL = (
    "INSERT INTO portal_sessions (token_hash, person_id, device_id, created_at, expires_at, "
    "ended_at) VALUES (:token_hash, :person_id, :device_id, :created_at, :expires_at, NULL)"
)
# A session lasts only as long as the device that opened it is active: revoking or blocking a
# phone ends its sessions too.
_PORTAL_PERSON = (
    f"SELECT s.person_id, s.created_at, s.expires_at, s.ended_at, d.status, {PROFILE_COLUMNS} "
    "FROM portal_sessions s JOIN devices d ON d.id = s.device_id "
    f"JOIN persons p ON p.id = s.person_id {PROFILE_JOINS} "
    "WHERE s.token_hash = :token_hash ORDER BY m.id"
)
#: A session in use lives on: its end moves to ``idle`` from now (never past the absolute end),
#: at most once a minute (``:stale``), so that a page view rarely writes.
_TOUCH_PORTAL = (
    "UPDATE portal_sessions SET expires_at = :expires_at WHERE token_hash = :token_hash "
    "AND ended_at IS NULL AND expires_at > :now AND expires_at < :stale"
)
_END_PORTAL = (
    "UPDATE portal_sessions SET ended_at = :now WHERE token_hash = :token_hash "
    "AND ended_at IS NULL RETURNING person_id"
)
LOGINS = table(LoginSession)
PORTAL = table(PortalSession)


@dataclass(frozen=True)
class StartedLogin:
    """A new login: the browser keeps ``browser_secret`` in a cookie, the QR shows ``qr_text``."""

    login_id: str
    browser_secret: str
    qr_text: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class ScanResult:
    """What the app shows after scanning: who asks and the code to type in the browser."""

    service_name: str
    host: str
    requested_at: dt.datetime
    expires_at: dt.datetime
    client_ip: str
    user_agent: str = field(repr=False)
    code: str

    @property
    def browser(self) -> Message:
        """What the app may show of the browser: a label, never its User-Agent itself."""
        return browser_label(self.user_agent)


@dataclass(frozen=True)
class AppView:
    """What the scanning app may know of a login: its state, and once confirmed the challenge."""

    state: str
    _challenge: str = field(repr=False)

    @property
    def challenge(self) -> str | None:
        """The challenge to sign, only once the browser typed the right code."""
        return self._challenge if self.state == LoginState.CONFIRMED else None

    def now(self, state: str) -> AppView:
        """The same login in a state a notification told (the challenge never changes)."""
        return AppView(state, self._challenge)


@dataclass(frozen=True)
class PortalVisit:
    """Who holds a live portal session, and when they logged in (with QR and PIN) for it."""

    profile: Profile
    logged_in_at: dt.datetime


@dataclass(frozen=True)
class NewPortalSession:
    """The cookie value of a fresh portal session and its end."""

    token: str
    expires_at: dt.datetime
    person_id: str


@dataclass(frozen=True)
class LoginRow:
    """One login as read from its row."""

    id: str
    browser_hash: str
    nonce_hash: str
    challenge: str
    code_hash: str | None
    code_attempts: int
    state: LoginState
    device_id: str | None
    person_id: str | None
    client_ip: str
    user_agent: str
    created_at: dt.datetime
    expires_at: dt.datetime

    @classmethod
    def of(cls, row: Row) -> LoginRow:
        """The login in the first columns of ``row``."""
        created_at, expires_at = read_time(row[11]), read_time(row[12])
        if created_at is None or expires_at is None:  # pragma: no cover - NOT NULL columns
            raise LoginUnknownError("login without times")
        return cls(
            id=row[0],
            browser_hash=row[1],
            nonce_hash=row[2],
            challenge=row[3],
            code_hash=row[4],
            code_attempts=row[5],
            state=LoginState(row[6]),
            device_id=row[7],
            person_id=row[8],
            client_ip=row[9],
            user_agent=row[10],
            created_at=created_at,
            expires_at=expires_at,
        )


def purge_logins(session: Session, *, before: dt.datetime) -> int:
    """Delete logins and portal sessions that ended before ``before``; how many rows."""
    connection = session.connection()
    logins = connection.execute(delete(LOGINS).where(LOGINS.c.expires_at < before))
    sessions = connection.execute(
        delete(PORTAL).where(or_(PORTAL.c.expires_at < before, PORTAL.c.ended_at < before))
    )
    return int(logins.rowcount) + int(sessions.rowcount)


class LoginService:
    """The steps of a QR login; each runs as one step of the raw database."""

    def __init__(  # noqa: PLR0913 - its collaborators
        self,
        *,
        db: RawDatabase,
        clock: Clock,
        settings: Settings,
        pin_key: bytes,
        audit_key: ChainKey,
        events: LoginEvents,
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._pin = PinPolicy.of(settings, pin_key)
        self._audit_key = audit_key
        self._events = events

    async def _call(self, step: Callable[[Tx], Coroutine[Any, Any, T]], *, write: bool) -> T:
        return await self._db.call(step, write=write)

    # -- browser ----------------------------------------------------------------------------

    async def start(self, *, client_ip: str, user_agent: str) -> StartedLogin:
        """A new login for a browser that is not logged in."""
        now = self._clock.now()
        login_id, nonce, secret = new_id(), new_token(), new_token()
        expires_at = now + dt.timedelta(seconds=self._settings.login_ttl_seconds)

        async def step(tx: Tx) -> None:
            await tx.execute(
                _INSERT_LOGIN,
                {
                    "id": login_id,
                    "browser_hash": hash_token(secret),
                    "nonce_hash": hash_token(nonce),
                    "challenge": new_token(32),
                    "client_ip": client_ip[:64],
                    "user_agent": user_agent[:300],
                    "created_at": tx.time(now),
                    "expires_at": tx.time(expires_at),
                },
            )

        await self._call(step, write=True)
        return StartedLogin(
            login_id=login_id,
            browser_secret=secret,
            qr_text=f"{self._settings.public_url}/app/login/{login_id}#{nonce}",
            expires_at=expires_at,
        )

    async def browser_state(self, login_id: str, browser_secret: str) -> LoginState | str:
        """The login's state as its browser may see it (``"expired"`` when time ran out)."""

        async def step(tx: Tx) -> LoginState | str:
            return self._visible_state(await self._for_browser(tx, login_id, browser_secret))

        return await self._call(step, write=False)

    async def enter_code(
        self, login_id: str, browser_secret: str, code: str, *, source: str
    ) -> None:
        """The browser types the code the app shows; a few wrong codes end the login."""
        typed = "".join(code.split())

        async def step(tx: Tx) -> None:
            login = await self._for_browser(tx, login_id, browser_secret)
            self._refuse_expired(login)
            if login.state is not LoginState.SCANNED:
                raise LoginStateError(state=login.state.value)
            if (
                login.code_hash is not None
                and len(typed) == CODE_DIGITS
                and same_token(typed, login.code_hash)
            ):
                await self._move(tx, login, LoginState.CONFIRMED)
                return
            attempts = login.code_attempts + 1
            remaining = self._settings.login_code_tries - attempts
            if remaining <= 0:
                await append(
                    tx,
                    key=self._audit_key,
                    at=self._clock.now(),
                    action="login.failed",
                    actor="anonymous",
                    subject=f"login:{login.id}",
                    source=source,
                    details={"reason": "wrong codes", "device": login.device_id},
                    changes=[self._moving(login, LoginState.FAILED, code_attempts=attempts)],
                )
                raise LoginFailedError("too many wrong codes")
            await self._move(tx, login, login.state, announce=False, code_attempts=attempts)
            raise LoginCodeWrongError(remaining_attempts=remaining)

        await self._call(step, write=True)

    async def complete(
        self,
        login_id: str,
        browser_secret: str,
        *,
        source: str,
        also: str | None = None,
    ) -> tuple[NewPortalSession, bool]:
        """Give an approved login's browser a brand-new portal session (once).

        ``also`` is a yes/no SQL expression about the login's person (``l.person_id``), asked
        in the step's own read of the login; its answer comes back with the session (the web
        layer asks whether the person's registration awaits this login).
        """
        token = new_token(32)

        async def step(tx: Tx) -> tuple[NewPortalSession, bool]:
            login, device, more = await self._login_device_and(tx, login_id, also)
            if login is None or not same_token(browser_secret, login.browser_hash):
                raise LoginUnknownError("unknown login or another browser")
            if login.state is not LoginState.APPROVED:
                self._refuse_expired(login)
                raise LoginStateError(state=login.state.value)
            if login.person_id is None or login.device_id is None:  # approved sets both
                raise LoginStateError(state=login.state.value)
            now = self._clock.now()
            if login.expires_at <= now:
                raise LoginExpiredError
            if device is None:
                raise DeviceUnknownError
            device.usable()  # refuses a revoked or blocked one
            expires_at = self._session_end(created_at=now, now=now)
            session = Change(
                _INSERT_PORTAL,
                {
                    "token_hash": hash_token(token),
                    "person_id": login.person_id,
                    "device_id": login.device_id,
                    "created_at": now,
                    "expires_at": expires_at,
                },
            )
            await append(
                tx,
                key=self._audit_key,
                at=now,
                action="session.started",
                actor=f"person:{login.person_id}",
                subject=f"login:{login.id}",
                source=source,
                details={"device": login.device_id},
                changes=[self._moving(login, LoginState.COMPLETED, announce=False), session],
            )
            return NewPortalSession(
                token=token, expires_at=expires_at, person_id=login.person_id
            ), more

        return await self._call(step, write=True)

    # -- app --------------------------------------------------------------------------------

    async def scan(
        self, login_id: str, *, nonce: str, device_id: str, signature: str
    ) -> ScanResult:
        """An app scanned the QR: it (and only it) gets the code to show."""

        async def step(tx: Tx) -> ScanResult:
            login, device, _ = await self._login_and_device(tx, login_id, device_id)
            if login is None:  # then the query told nothing of the device
                device = await read_device(tx, device_id)
            if device is None:
                raise DeviceUnknownError
            device.usable()
            verify_device_signature(
                stored_device_key(device.public_key),
                signature,
                scan_string(login_id, nonce, device_id),
            )
            if login is None or not same_token(nonce, login.nonce_hash):
                raise LoginUnknownError("unknown login or wrong nonce")
            self._refuse_expired(login)
            if login.state is LoginState.PENDING or (
                login.state is LoginState.SCANNED and login.device_id == device.id
            ):
                code = new_digits(CODE_DIGITS)
                await self._move(
                    tx, login, LoginState.SCANNED, device_id=device.id, code_hash=hash_token(code)
                )
                return ScanResult(
                    service_name=self._settings.service_name,
                    host=self._settings.public_host,
                    requested_at=login.created_at,
                    expires_at=login.expires_at,
                    client_ip=login.client_ip,
                    user_agent=login.user_agent,
                    code=code,
                )
            if login.device_id is not None and login.device_id != device.id:
                raise LoginTakenError
            raise LoginStateError(state=login.state.value)

        return await self._call(step, write=True)

    async def app_state(self, login_id: str, *, nonce: str, device_id: str) -> AppView:
        """The state the scanning app waits on, and the challenge once it may answer."""

        async def step(tx: Tx) -> AppView:
            login = await self._load(tx, login_id)
            if login is None or not same_token(nonce, login.nonce_hash):
                raise LoginUnknownError("unknown login or wrong nonce")
            if login.device_id != device_id:
                raise LoginUnknownError("not the scanning device")
            return AppView(str(self._visible_state(login)), login.challenge)

        return await self._call(step, write=False)

    async def answer(  # noqa: PLR0913 - the fields of the protocol message
        self,
        login_id: str,
        *,
        device_id: str,
        decision: str,
        pin: str | None,
        signature: str,
        source: str,
    ) -> Profile | None:
        """The app approves (with PIN) or declines; returns the person's profile if approved."""
        if decision not in {"approve", "decline"}:
            raise BadRequestError("bad decision", reason=N_("the decision is approve or decline."))

        async def step(tx: Tx) -> Profile | None:
            login, found, profile = await self._login_and_device(
                tx, login_id, device_id, profile=True
            )
            if login is None or login.device_id != device_id:
                raise LoginUnknownError("not the scanning device")
            if found is None:
                raise DeviceUnknownError
            device = found.usable()
            self._refuse_expired(login)
            allowed = {LoginState.CONFIRMED} | (
                {LoginState.SCANNED} if decision == "decline" else set()
            )
            if login.state not in allowed:
                raise LoginStateError(state=login.state.value)
            # The challenge is handed out only once the browser typed the right code, so a
            # signature over it shows the app answered this pairing. A decline signs the empty
            # challenge (answer_string): it may come before the code, and it grants nothing.
            verify_device_signature(
                stored_device_key(device.public_key),
                signature,
                answer_string(
                    login.id, login.challenge, "approve" if decision == "approve" else "decline"
                ),
            )
            subject = f"login:{login.id}"
            actor = f"device:{device.id}"
            now = self._clock.now()
            if decision == "decline":
                await append(
                    tx,
                    key=self._audit_key,
                    at=now,
                    action="login.declined",
                    actor=actor,
                    subject=subject,
                    source=source,
                    changes=[self._moving(login, LoginState.DECLINED)],
                )
                return None
            if pin is None:
                raise BadRequestError("no pin", reason=N_("the PIN is missing."))
            attempt = judge_pin(device, pin, policy=self._pin, now=now)
            if attempt.error is not None:
                # Counted and refused (the refusal keeps its changes); a device blocked now
                # ends this login too.
                blocked = isinstance(attempt.error, DeviceBlockedError)
                ended = [self._moving(login, LoginState.FAILED)] if blocked else []
                await attempt.record(
                    tx, device, now=now, source=source, audit_key=self._audit_key, also=ended
                )
            # The PIN's new state, the approval and its event: all or nothing.
            await append(
                tx,
                key=self._audit_key,
                at=now,
                action="login.approved",
                actor=actor,
                subject=subject,
                source=source,
                details={"person": device.person_id},
                changes=[
                    self._moving(login, LoginState.APPROVED, person_id=device.person_id),
                    *attempt.changes,
                ],
            )
            return profile or await read_profile(tx, device.person_id)

        return await self._call(step, write=True)

    # -- portal sessions --------------------------------------------------------------------

    async def portal_person(self, token: str) -> Profile:
        """Who holds a live portal session, or :class:`SessionInvalidError`."""
        return (await self.portal_visit(token)).profile

    async def portal_visit(self, token: str) -> PortalVisit:
        """Who holds a live portal session and since when; the session counts as used now.

        A session ends ``session_idle_minutes`` after its last use and ``session_ttl_minutes``
        after its login, whichever is first. Its end is moved on (one write) only when the
        last move is more than a minute old: most page views only read.
        """
        now = self._clock.now()
        token_hash = hash_token(token)
        visit, expiry = await self._call(
            functools.partial(self._portal_visit, token_hash=token_hash, now=now), write=False
        )
        moved = self._session_end(created_at=visit.logged_in_at, now=now)
        if moved - expiry > TOUCH_INTERVAL:

            async def touch(tx: Tx) -> None:
                await tx.execute(
                    _TOUCH_PORTAL,
                    {
                        "expires_at": tx.time(moved),
                        "token_hash": token_hash,
                        "now": tx.time(now),
                        "stale": tx.time(moved - TOUCH_INTERVAL),
                    },
                )

            await self._call(touch, write=True)
        return visit

    async def _portal_visit(
        self, tx: Tx, *, token_hash: str, now: dt.datetime
    ) -> tuple[PortalVisit, dt.datetime]:
        rows = await tx.all(_PORTAL_PERSON, {"token_hash": token_hash})
        if not rows:
            raise SessionInvalidError
        person_id, created_at, expires_at, ended_at, status = rows[0][:5]
        created, expiry = read_time(created_at), read_time(expires_at)
        if (
            ended_at is not None
            or created is None
            or expiry is None
            or expiry <= now
            or now >= self._session_end(created_at=created, now=created, idle=False)
            or status != DeviceStatus.ACTIVE.value
        ):
            raise SessionInvalidError
        return PortalVisit(profile_of(person_id, rows, 5), created), expiry

    def _session_end(
        self, *, created_at: dt.datetime, now: dt.datetime, idle: bool = True
    ) -> dt.datetime:
        """When a session used ``now`` ends: idle time from now, never past its absolute end."""
        end = created_at + dt.timedelta(minutes=self._settings.session_ttl_minutes)
        idle_minutes = self._settings.session_idle_minutes
        if idle and idle_minutes:
            return min(end, now + dt.timedelta(minutes=idle_minutes))
        return end

    async def end_portal_session(self, token: str, *, source: str) -> None:
        """Log out: the session's cookie no longer works anywhere."""
        now = self._clock.now()

        async def step(tx: Tx) -> None:
            async with tx.atomic():
                ended = await tx.all(
                    _END_PORTAL, {"now": tx.time(now), "token_hash": hash_token(token)}
                )
                if ended:
                    person = ended[0][0]
                    await append(
                        tx,
                        key=self._audit_key,
                        at=now,
                        action="session.ended",
                        actor=f"person:{person}",
                        subject=f"person:{person}",
                        source=source,
                    )

        await self._call(step, write=True)

    # -- helpers ----------------------------------------------------------------------------

    async def _load(self, tx: Tx, login_id: str) -> LoginRow | None:
        if len(login_id) > MAX_ID_LENGTH:
            return None
        row = await tx.one(_LOGIN + tx.for_update, {"id": login_id})
        return None if row is None else LoginRow.of(row)

    async def _login_and_device(
        self, tx: Tx, login_id: str, device_id: str | None, *, profile: bool = False
    ) -> tuple[LoginRow | None, DeviceRow | None, Profile | None]:
        """The login, and the device ``device_id`` (or the login's own when None).

        Locking, the login is locked first and then the device (one lock order for every
        step rules out deadlocks); otherwise one query reads both, and with ``profile`` the
        device's person and roles too (else the profile is None: read it when needed).
        """
        if len(login_id) > MAX_ID_LENGTH or (
            device_id is not None and len(device_id) > MAX_ID_LENGTH
        ):
            return None, None, None
        if tx.locking:
            login = await self._load(tx, login_id)
            wanted = device_id if device_id is not None else (login.device_id if login else None)
            if login is None or wanted is None:
                return login, None, None
            return login, await find_device(tx, wanted), None
        params = {"id": login_id, "device": device_id}
        rows = await tx.all(_LOGIN_DEVICE_PROFILE if profile else _LOGIN_AND_DEVICE, params)
        if not rows:
            return None, None, None
        device = DeviceRow.of(rows[0], 13)
        person = profile_of(device.person_id, rows, 21) if profile and device else None
        return LoginRow.of(rows[0]), device, person

    async def _login_device_and(
        self, tx: Tx, login_id: str, also: str | None
    ) -> tuple[LoginRow | None, DeviceRow | None, bool]:
        """The login, its device, and the answer of the SQL expression ``also`` (one read)."""
        if also is None or tx.locking or len(login_id) > MAX_ID_LENGTH:
            login, device, _ = await self._login_and_device(tx, login_id, None)
            if login is None or also is None:
                return login, device, False
            asked = await tx.one(
                f"SELECT {also} FROM login_sessions l WHERE l.id = :id", {"id": login.id}
            )
            return login, device, bool(asked and asked[0])
        row = await tx.one(
            _LOGIN_AND_DEVICE.replace(" FROM ", f", {also} FROM ", 1),
            {"id": login_id, "device": None},
        )
        if row is None:
            return None, None, False
        return LoginRow.of(row), DeviceRow.of(row, 13), bool(row[-1])

    async def _for_browser(self, tx: Tx, login_id: str, secret: str) -> LoginRow:
        login = await self._load(tx, login_id)
        if login is None or not same_token(secret, login.browser_hash):
            raise LoginUnknownError("unknown login or another browser")
        return login

    async def _move(
        self, tx: Tx, login: LoginRow, state: LoginState, *, announce: bool = True, **values: object
    ) -> None:
        """Compare-and-set the login's row; tell the waiters once it commits (``announce``)."""
        await apply(tx, [self._moving(login, state, announce=announce, **values)])

    def _moving(
        self, login: LoginRow, state: LoginState, *, announce: bool = True, **values: object
    ) -> Change:
        """The compare-and-set of :meth:`_move`, to make with other changes."""
        columns = {"state": state.value, **values}
        update = (
            "UPDATE login_sessions SET "
            + ", ".join(f"{name} = :{name}" for name in columns)
            + _SEEN
        )
        params = {
            **columns,
            "id": login.id,
            "seen_state": login.state.value,
            "seen_attempts": login.code_attempts,
            "seen_code": login.code_hash or "",
        }
        if not announce:
            return Change(update, params)
        return Change(
            update,
            params,
            notify=(CHANNEL, f"{login.id} {state.value}"),
            on_commit=functools.partial(self._events.notify, login.id, state.value),
        )

    def _visible_state(self, login: LoginRow) -> LoginState | str:
        if login.state not in FINAL_STATES and login.expires_at <= self._clock.now():
            return "expired"
        return login.state

    def _refuse_expired(self, login: LoginRow) -> None:
        if login.state in FINAL_STATES:
            raise (
                LoginFailedError
                if login.state is LoginState.FAILED
                else LoginStateError(state=login.state.value)
            )
        if login.expires_at <= self._clock.now():
            raise LoginExpiredError
