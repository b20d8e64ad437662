"""QR login: a browser waits, an app scans, the person types the app's code, then approves.

Every step locks the login row first (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's
transaction holds the write lock), so each transition happens once, however many requests race.
See docs/protocol.md for the messages and the states. The steps are on the path of every login
of the country, so they use prebuilt SQL statements rather than the ORM's unit of work.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, delete, insert, or_, select, update

from zorgid.core.i18n import N_
from zorgid.core.protocol import answer_string, scan_string
from zorgid.core.tokens import hash_token, new_digits, new_id, new_token, same_token
from zorgid.db.base import table
from zorgid.identity.devicekeys import load_device_key, verify_device_signature
from zorgid.identity.errors import BadRequestError, DeviceBlockedError
from zorgid.identity.models import Device, DeviceStatus
from zorgid.login.errors import (
    LoginCodeWrongError,
    LoginExpiredError,
    LoginFailedError,
    LoginStateError,
    LoginTakenError,
    LoginUnknownError,
    SessionInvalidError,
)
from zorgid.login.models import LoginSession, LoginState, PortalSession

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from zorgid.audit.log import AuditLog
    from zorgid.core.clock import Clock
    from zorgid.identity.service import IdentityService, Profile
    from zorgid.login.events import LoginEvents
    from zorgid.settings import Settings

FINAL_STATES = frozenset({LoginState.COMPLETED, LoginState.DECLINED, LoginState.FAILED})
CODE_DIGITS = 6
MAX_ID_LENGTH = 32  # longer identifiers are not ours: refuse them before any query


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
    user_agent: str
    code: str


@dataclass(frozen=True)
class NewPortalSession:
    """The cookie value of a fresh portal session and its end."""

    token: str
    expires_at: dt.datetime
    person_id: str


LOGINS = table(LoginSession)
PORTAL = table(PortalSession)
_LOGIN = select(*LOGINS.c).where(LOGINS.c.id == bindparam("id"))
_LOGIN_FOR_UPDATE = _LOGIN.with_for_update()
_UPDATE_LOGIN = update(LOGINS).where(LOGINS.c.id == bindparam("key"))
_DEVICES = table(Device)
# A session lasts only as long as the device that opened it is active: revoking or blocking a
# phone ends its sessions too.
_PORTAL_PERSON = (
    select(PORTAL.c.person_id, PORTAL.c.expires_at, PORTAL.c.ended_at, _DEVICES.c.status)
    .join(_DEVICES, _DEVICES.c.id == PORTAL.c.device_id)
    .where(PORTAL.c.token_hash == bindparam("token_hash"))
)


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


class LoginService:
    """The steps of a QR login, in one database session."""

    def __init__(  # noqa: PLR0913 - the collaborators of a login step
        self,
        *,
        session: Session,
        clock: Clock,
        settings: Settings,
        identity: IdentityService,
        events: LoginEvents,
        audit: AuditLog,
    ) -> None:
        self._session = session
        self._clock = clock
        self._settings = settings
        self._identity = identity
        self._events = events
        self._audit = audit

    # -- browser ----------------------------------------------------------------------------

    def start(self, *, client_ip: str, user_agent: str) -> StartedLogin:
        """A new login for a browser that is not logged in."""
        now = self._clock.now()
        login_id, nonce, secret = new_id(), new_token(), new_token()
        expires_at = now + dt.timedelta(seconds=self._settings.login_ttl_seconds)
        self._session.connection().execute(
            insert(LOGINS),
            {
                "id": login_id,
                "browser_hash": hash_token(secret),
                "nonce_hash": hash_token(nonce),
                "challenge": new_token(32),
                "code_hash": None,
                "code_attempts": 0,
                "state": LoginState.PENDING,
                "device_id": None,
                "person_id": None,
                "client_ip": client_ip[:64],
                "user_agent": user_agent[:300],
                "created_at": now,
                "expires_at": expires_at,
            },
        )
        return StartedLogin(
            login_id=login_id,
            browser_secret=secret,
            qr_text=f"{self._settings.public_url}/app/login/{login_id}#{nonce}",
            expires_at=expires_at,
        )

    def browser_state(self, login_id: str, browser_secret: str) -> LoginState | str:
        """The login's state as its browser may see it (``"expired"`` when time ran out)."""
        login = self._for_browser(login_id, browser_secret, lock=False)
        return self._visible_state(login)

    def enter_code(self, login_id: str, browser_secret: str, code: str, *, source: str) -> None:
        """The browser types the code the app shows; a few wrong codes end the login."""
        login = self._for_browser(login_id, browser_secret, lock=True)
        self._refuse_expired(login)
        if login.state is not LoginState.SCANNED:
            raise LoginStateError(state=login.state.value)
        typed = "".join(code.split())
        if (
            login.code_hash is not None
            and len(typed) == CODE_DIGITS
            and same_token(typed, login.code_hash)
        ):
            self._move(login, LoginState.CONFIRMED)
            return
        attempts = login.code_attempts + 1
        remaining = self._settings.login_code_tries - attempts
        if remaining <= 0:
            self._move(login, LoginState.FAILED, code_attempts=attempts)
            self._audit.record(
                "login.failed",
                actor="anonymous",
                subject=f"login:{login.id}",
                source=source,
                details={"reason": "wrong codes", "device": login.device_id},
            )
            raise LoginFailedError("too many wrong codes")
        self._update(login, code_attempts=attempts)
        raise LoginCodeWrongError(remaining_attempts=remaining)

    def complete(self, login_id: str, browser_secret: str, *, source: str) -> NewPortalSession:
        """Give an approved login's browser a brand-new portal session (once)."""
        login = self._for_browser(login_id, browser_secret, lock=True)
        if login.state is not LoginState.APPROVED:
            self._refuse_expired(login)
            raise LoginStateError(state=login.state.value)
        if login.person_id is None or login.device_id is None:  # approved always sets both
            raise LoginStateError(state=login.state.value)
        now = self._clock.now()
        if login.expires_at <= now:
            raise LoginExpiredError
        self._identity.device_row(login.device_id, lock=False)  # refuses a revoked or blocked one
        token = new_token(32)
        expires_at = now + dt.timedelta(minutes=self._settings.session_ttl_minutes)
        self._update(login, state=LoginState.COMPLETED)
        self._session.connection().execute(
            insert(PORTAL),
            {
                "token_hash": hash_token(token),
                "person_id": login.person_id,
                "device_id": login.device_id,
                "created_at": now,
                "expires_at": expires_at,
                "ended_at": None,
            },
        )
        self._audit.record(
            "session.started",
            actor=f"person:{login.person_id}",
            subject=f"login:{login.id}",
            source=source,
            details={"device": login.device_id},
        )
        return NewPortalSession(token=token, expires_at=expires_at, person_id=login.person_id)

    # -- app --------------------------------------------------------------------------------

    def scan(self, login_id: str, *, nonce: str, device_id: str, signature: str) -> ScanResult:
        """An app scanned the QR: it (and only it) gets the code to show."""
        # The device is only read here (its key and status); the login row is what changes.
        device = self._identity.device_row(device_id, lock=False)
        verify_device_signature(
            load_device_key(device.public_key),
            signature,
            scan_string(login_id, nonce, device_id),
        )
        login = self._for_app(login_id, nonce)
        self._refuse_expired(login)
        if login.state is LoginState.PENDING or (
            login.state is LoginState.SCANNED and login.device_id == device.id
        ):
            code = new_digits(CODE_DIGITS)
            self._move(login, LoginState.SCANNED, device_id=device.id, code_hash=hash_token(code))
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

    def app_state(self, login_id: str, *, nonce: str, device_id: str) -> tuple[str, str | None]:
        """The state the scanning app waits on, and the challenge once it may answer."""
        login = self._for_app(login_id, nonce, lock=False)
        if login.device_id != device_id:
            raise LoginUnknownError("not the scanning device")
        state = self._visible_state(login)
        return str(state), login.challenge if state == LoginState.CONFIRMED else None

    def answer(  # noqa: PLR0913 - the fields of the protocol message
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
        login = self._load(login_id, lock=True)
        if login is None or login.device_id != device_id:
            raise LoginUnknownError("not the scanning device")
        device = self._identity.device_row(device_id, lock=True)
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
            load_device_key(device.public_key),
            signature,
            answer_string(
                login.id, login.challenge, "approve" if decision == "approve" else "decline"
            ),
        )
        subject = f"login:{login.id}"
        actor = f"device:{device.id}"
        if decision == "decline":
            self._move(login, LoginState.DECLINED)
            self._audit.record("login.declined", actor=actor, subject=subject, source=source)
            return None
        if pin is None:
            raise BadRequestError("no pin", reason=N_("the PIN is missing."))
        try:
            self._identity.check_pin_of(device, pin, source=source)
        except DeviceBlockedError:
            self._move(login, LoginState.FAILED)  # kept: the error keeps its changes
            raise
        self._move(login, LoginState.APPROVED, person_id=device.person_id)
        self._audit.record(
            "login.approved",
            actor=actor,
            subject=subject,
            source=source,
            details={"person": device.person_id},
        )
        return self._identity.profile(device.person_id)

    # -- portal sessions --------------------------------------------------------------------

    def portal_person(self, token: str) -> Profile:
        """Who holds a live portal session, or :class:`SessionInvalidError`."""
        row = (
            self._session.connection()
            .execute(_PORTAL_PERSON, {"token_hash": hash_token(token)})
            .one_or_none()
        )
        if (
            row is None
            or row.ended_at is not None
            or row.expires_at <= self._clock.now()
            or row.status is not DeviceStatus.ACTIVE
        ):
            raise SessionInvalidError
        return self._identity.profile(row.person_id)

    def end_portal_session(self, token: str, *, source: str) -> None:
        """Log out: the session's cookie no longer works anywhere."""
        ended = self._session.execute(
            update(PortalSession)
            .where(PortalSession.token_hash == hash_token(token), PortalSession.ended_at.is_(None))
            .values(ended_at=self._clock.now())
            .returning(PortalSession.person_id)
        ).scalar_one_or_none()
        if ended is not None:
            self._audit.record(
                "session.ended", actor=f"person:{ended}", subject=f"person:{ended}", source=source
            )

    def purge(self, *, before: dt.datetime) -> int:
        """Delete logins and portal sessions that ended before ``before``; how many rows."""
        connection = self._session.connection()
        logins = connection.execute(delete(LOGINS).where(LOGINS.c.expires_at < before))
        sessions = connection.execute(
            delete(PORTAL).where(or_(PORTAL.c.expires_at < before, PORTAL.c.ended_at < before))
        )
        return int(logins.rowcount) + int(sessions.rowcount)

    # -- helpers ----------------------------------------------------------------------------

    def _load(self, login_id: str, *, lock: bool) -> LoginRow | None:
        if len(login_id) > MAX_ID_LENGTH:
            return None
        statement = _LOGIN_FOR_UPDATE if lock else _LOGIN
        row = self._session.connection().execute(statement, {"id": login_id}).one_or_none()
        return None if row is None else LoginRow(*row)

    def _for_browser(self, login_id: str, secret: str, *, lock: bool) -> LoginRow:
        login = self._load(login_id, lock=lock)
        if login is None or not same_token(secret, login.browser_hash):
            raise LoginUnknownError("unknown login or another browser")
        return login

    def _for_app(self, login_id: str, nonce: str, *, lock: bool = True) -> LoginRow:
        login = self._load(login_id, lock=lock)
        if login is None or not same_token(nonce, login.nonce_hash):
            raise LoginUnknownError("unknown login or wrong nonce")
        return login

    def _update(self, login: LoginRow, **values: object) -> None:
        self._session.connection().execute(_UPDATE_LOGIN, {"key": login.id, **values})

    def _move(self, login: LoginRow, state: LoginState, **values: object) -> None:
        """Change the state (the row is locked) and tell the waiters once it commits."""
        self._update(login, state=state, **values)
        self._events.publish(self._session, login.id, state.value)

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
