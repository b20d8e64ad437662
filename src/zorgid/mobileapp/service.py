"""What the reference app does, step by step: activate, show the ID, answer a QR login.

:class:`MobileApp` joins the home directory (the key and the cached ID) and the service's app
API (:class:`~zorgid.mobileapp.client.AppClient`); the CLI asks the person for PINs and prints.
The steps follow docs/protocol.md; where the app must decide something the protocol leaves
open, the reason is written beside it.
"""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from zorgid.core.clock import Clock, SystemClock
from zorgid.core.i18n import N_, Message
from zorgid.mobileapp.errors import (
    AlreadyActivatedError,
    DeviceBlockedError,
    DeviceGoneError,
    DeviceUnknownError,
    LoginEndedError,
    LoginTimeoutError,
    NotActivatedError,
    QrOtherServiceError,
    ServiceRefusedError,
    ServiceResponseError,
    ServiceTimeoutError,
    ServiceUnreachableError,
)
from zorgid.mobileapp.keystore import Activation, Home
from zorgid.mobileapp.models import (
    DeviceStatus,
    Identity,
    LoginOutcome,
    LoginRequest,
    clean_text,
    iso,
)
from zorgid.mobileapp.pin import check_new_pin, check_pin_format
from zorgid.mobileapp.qr import QrKind, QrPointer, expect_kind
from zorgid.mobileapp.signing import new_device_key

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Iterator

    from cryptography.hazmat.primitives.asymmetric import ec

    from zorgid.errors import ZorgidError
    from zorgid.mobileapp.client import AppClient

#: Extra seconds past the login's own lifetime before the app stops waiting itself.
WAIT_GRACE = 30.0
#: A wait that comes back sooner than this is not repeated at once (no busy loop).
MIN_POLL_INTERVAL = 1.0
#: Longest lifetime of a login the app will wait for, whatever the service says.
MAX_LOGIN_SECONDS = 3600.0
_LABEL_LIMIT = 100

#: The states of a login that end it, as a person reads them (LoginState in login/models.py).
_ENDED_STATES = {
    "pending": N_("not scanned"),
    "approved": N_("already approved"),
    "completed": N_("already completed"),
    "declined": N_("declined"),
    "failed": N_("failed"),
    "expired": N_("expired"),
}


@dataclass(frozen=True)
class PendingLogin:
    """A login this app has scanned: what it showed, and what it needs to answer."""

    pointer: QrPointer
    activation: Activation
    key: ec.EllipticCurvePrivateKey
    request: LoginRequest


@dataclass(frozen=True)
class IdReport:
    """What the "ID" screen shows, and how fresh it is."""

    #: ``active``, ``blocked``, ``revoked`` or ``not_activated``.
    status: str
    identity: Identity | None
    service_url: str | None
    #: The service could not be asked (or would not answer); the data is the app's cache.
    offline: bool = False
    #: Why the data is not fresh, or why the app was wiped.
    problem: ZorgidError | None = None
    #: The service told the app to delete its key, and it did.
    wiped: bool = False
    #: When the shown data came from the service (for cached data).
    refreshed_at: dt.datetime | None = None


class MobileApp:
    """The reference app over one home directory."""

    def __init__(  # noqa: PLR0913 - collaborators, keyword-only; time is injected for tests
        self,
        *,
        home: Home,
        connect: Callable[[str], AppClient],
        clock: Clock | None = None,
        label: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.home = home
        self._connect = connect
        self._clock = clock or SystemClock()
        self._label = clean_text(label or default_label(), limit=_LABEL_LIMIT)
        self._sleep = sleep
        self._monotonic = monotonic

    # --- activation ------------------------------------------------------------------------

    def check_can_activate(self, pointer: QrPointer) -> None:
        """Refuse early (before the PIN is asked) when this home is already activated.

        An activation the service says is revoked, blocked or unknown is wiped here: the
        person is activating again, as the service asked.
        """
        existing = self.home.load()
        if existing is None or not existing.active:
            return
        if existing.service_url == pointer.base_url:
            with contextlib.suppress(
                ServiceUnreachableError, ServiceResponseError, ServiceRefusedError
            ):
                if self._gone_at_service(existing):
                    self.home.wipe()
                    return
        raise AlreadyActivatedError(
            existing.device_id, service=existing.service_url, device_id=existing.device_id
        )

    def activate(self, pointer: QrPointer, pin: str) -> Activation:
        """Redeem an activation QR with a new device key and ``pin`` (protocol.md "Activation")."""
        expect_kind(pointer, QrKind.ACTIVATION)
        check_new_pin(pin)
        existing = self.home.load()
        if existing is not None and existing.active:
            raise AlreadyActivatedError(
                existing.device_id, service=existing.service_url, device_id=existing.device_id
            )
        key = new_device_key()
        with self._connect(pointer.base_url) as client:
            identity = client.activate(
                pointer.identifier, nonce=pointer.nonce, key=key, pin=pin, label=self._label
            )
        now = self._clock.now()
        # The app keeps talking to the URL its QR code named; a service URL in the answer is not
        # followed (a QR code is all the person chose to trust).
        activation = Activation(pointer.base_url, identity, now, now)
        self.home.save(activation, key)
        return activation

    # --- ID --------------------------------------------------------------------------------

    def identity(self) -> IdReport:
        """The ID, refreshed from the service when it answers, else from the cache."""
        activation = self.home.load()
        if activation is None:
            return IdReport("not_activated", None, None)
        try:
            fresh = self._status(activation)
        except DeviceGoneError as error:
            self.home.wipe()
            status = "blocked" if isinstance(error, DeviceBlockedError) else "revoked"
            return IdReport(
                status, activation.identity, activation.service_url, problem=error, wiped=True
            )
        except (ServiceUnreachableError, ServiceResponseError) as error:
            return self._cached(activation, error)
        except ServiceRefusedError as error:
            # The service answered but refused (a phone clock far off, say): not offline.
            return replace(self._cached(activation, error), offline=False)
        if fresh.wipe:
            self.home.wipe()
            # A wipe means the device is gone, even if the status claims otherwise.
            status = "revoked" if fresh.status is DeviceStatus.ACTIVE else fresh.status.value
            return IdReport(status, fresh, activation.service_url, wiped=True)
        updated = replace(activation, identity=fresh, refreshed_at=self._clock.now())
        self.home.save(updated)
        return IdReport(fresh.status.value, fresh, updated.service_url)

    def _cached(self, activation: Activation, error: ZorgidError) -> IdReport:
        return IdReport(
            activation.identity.status.value,
            activation.identity,
            activation.service_url,
            offline=True,
            problem=error,
            refreshed_at=activation.refreshed_at,
        )

    def _status(self, activation: Activation) -> Identity:
        key = self.home.load_key()
        with self._connect(activation.service_url) as client:
            fresh = client.device_status(
                activation.device_id, key=key, timestamp=iso(self._clock.now())
            )
        if fresh.device_id != activation.device_id:
            raise ServiceResponseError(
                "another device id",
                url=activation.service_url,
                reason=N_("it answered for another device"),
            )
        return fresh

    def _gone_at_service(self, activation: Activation) -> bool:
        try:
            fresh = self._status(activation)
        except (DeviceGoneError, DeviceUnknownError):
            return True
        return fresh.wipe or fresh.status is not DeviceStatus.ACTIVE

    # --- QR login --------------------------------------------------------------------------

    def start_login(self, pointer: QrPointer) -> PendingLogin:
        """Scan a login QR: claim the login and learn who asks and the code to show."""
        expect_kind(pointer, QrKind.LOGIN)
        activation = self._activation()
        if pointer.base_url != activation.service_url:
            # The PIN goes to the URL in the QR code; only the service the app was activated
            # with may have it (a look-alike service's QR code would otherwise collect it).
            raise QrOtherServiceError(
                pointer.base_url, found=pointer.base_url, service=activation.service_url
            )
        key = self.home.load_key()
        with self._wiping_when_gone(), self._connect(activation.service_url) as client:
            request = client.scan_login(
                pointer.identifier, nonce=pointer.nonce, device_id=activation.device_id, key=key
            )
        return PendingLogin(pointer, activation, key, request)

    def wait_for_browser(self, login: PendingLogin) -> str:
        """Wait until the browser has typed the code; the challenge to sign."""
        lifetime = (login.request.expires_at - login.request.requested_at).total_seconds()
        deadline = self._monotonic() + min(max(lifetime, 0.0), MAX_LOGIN_SECONDS) + WAIT_GRACE
        with self._connect(login.activation.service_url) as client:
            while True:
                started = self._monotonic()
                if started > deadline:
                    raise LoginTimeoutError(login.pointer.identifier)
                try:
                    progress = client.wait_login(
                        login.pointer.identifier,
                        nonce=login.pointer.nonce,
                        device_id=login.activation.device_id,
                    )
                except ServiceTimeoutError:
                    continue  # a long poll cut short on the way; the deadline still holds
                if progress.state == "confirmed" and progress.challenge is not None:
                    return progress.challenge
                if progress.state != "scanned":
                    raise LoginEndedError(progress.state, state=_state_text(progress.state))
                elapsed = self._monotonic() - started
                if elapsed < MIN_POLL_INTERVAL:
                    self._sleep(MIN_POLL_INTERVAL - elapsed)

    def approve(self, login: PendingLogin, challenge: str, pin: str) -> LoginOutcome:
        """Approve with the PIN, signing the service's challenge."""
        check_pin_format(pin)
        outcome = self._answer(login, challenge, pin)
        if outcome.state != "approved":
            raise LoginEndedError(outcome.state, state=_state_text(outcome.state))
        return outcome

    def decline(self, login: PendingLogin) -> LoginOutcome:
        """Say no to the login: allowed once scanned, signed without a challenge (protocol.md)."""
        return self._answer(login, "", None)

    def _answer(self, login: PendingLogin, challenge: str, pin: str | None) -> LoginOutcome:
        with self._wiping_when_gone(), self._connect(login.activation.service_url) as client:
            return client.answer_login(
                login.pointer.identifier,
                device_id=login.activation.device_id,
                key=login.key,
                challenge=challenge,
                decision="decline" if pin is None else "approve",
                pin=pin,
            )

    def _activation(self) -> Activation:
        activation = self.home.load()
        if activation is None:
            raise NotActivatedError(str(self.home.path), home=str(self.home.path))
        return activation

    @contextlib.contextmanager
    def _wiping_when_gone(self) -> Iterator[None]:
        try:
            yield
        except DeviceGoneError:
            self.home.wipe()
            raise


def default_label() -> str:
    """How the service lists this app among the person's devices."""
    return f"zorgid app ({socket.gethostname()})"


def _state_text(state: str) -> Message | str:
    msgid = _ENDED_STATES.get(state)
    return Message(msgid) if msgid else state
