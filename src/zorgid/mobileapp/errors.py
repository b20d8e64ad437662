"""What can go wrong in the reference app: one tree under :class:`AppError`.

::

    AppError
    ├── QrError                       (the SOURCE: image, QR code, pointer URL)
    │   ├── ImageUnreadableError      image_unreadable: not a PNG/JPEG, or broken
    │   ├── ImageTooLargeError        image_too_large: bytes or pixels over the cap
    │   ├── QrNotFoundError           qr_not_found: an image without a QR code
    │   ├── QrAmbiguousError          qr_multiple: several different QR codes in one image
    │   ├── QrInvalidError            qr_invalid: text that is not a ZORG-ID pointer
    │   ├── QrWrongKindError          qr_wrong_kind: a login QR given to activate, or the reverse
    │   └── QrOtherServiceError       qr_other_service: a login QR of another service
    ├── PinError
    │   ├── PinFormatError            pin_format: not 5 digits, all the same, a straight run
    │   ├── PinMismatchError          pin_mismatch: the second entry differs from the first
    │   └── PinMissingError           pin_missing: no PIN on standard input, no terminal
    ├── HomeError                     (the app's home directory)
    │   ├── NotActivatedError         not_activated
    │   ├── AlreadyActivatedError     already_activated
    │   ├── HomeCorruptError          home_corrupt: device.json or the key cannot be read
    │   └── HomeWriteError            home_write: the home cannot be written
    ├── LoginError
    │   ├── LoginEndedError           login_ended: the login reached a final state elsewhere
    │   └── LoginTimeoutError         login_expired: the browser did not confirm in time
    └── ServiceError                  (talking to the service)
        ├── ServiceUnreachableError   service_unreachable: no connection (exit 2)
        │   └── ServiceTimeoutError   ... or no answer in time
        ├── ServiceResponseError      service_response: 5xx, not JSON, wrong shape (exit 2)
        └── ServiceRefusedError       the service said no: ``code`` is the service's own code
            ├── PinWrongError, PinWaitError
            ├── DeviceGoneError       device_blocked, device_revoked (the app wipes its key)
            ├── DeviceUnknownError
            └── ... one class per code of docs/protocol.md; unknown codes get a class too

Messages of :class:`ServiceRefusedError` come from the service, already in the person's language
(``Accept-Language``); everything else is an ``N_`` msgid rendered at the edge.
"""

from __future__ import annotations

import functools
import re
import types
from typing import ClassVar

from zorgid.core.i18n import N_, translate
from zorgid.errors import ZorgidError

EXIT_REFUSED = 1
EXIT_USAGE = 2

#: What a service error code may look like; anything else is an unexpected answer.
SERVICE_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")


class AppError(ZorgidError):
    """Base of the reference app's errors."""

    code = "app_error"


# --- the SOURCE ----------------------------------------------------------------------------


class QrError(AppError):
    """The image or text given as SOURCE is not a usable ZORG-ID QR code."""

    code = "qr_error"


class ImageUnreadableError(QrError):
    """The file is not a PNG or JPEG image, or it is damaged."""

    code = "image_unreadable"
    message = N_(
        "The file {path} is not a readable PNG or JPEG image. Take a new picture or screenshot "
        "of the QR code."
    )


class ImageTooLargeError(QrError):
    """The image file or its pixel count is over the cap."""

    code = "image_too_large"
    message = N_("The image {path} is too large (at most {limit}). Crop it to the QR code.")


class QrNotFoundError(QrError):
    """No QR code could be found in the image."""

    code = "qr_not_found"
    message = N_(
        "No QR code was found in {path}. Make sure the whole QR code is in the picture, sharp "
        "and not too small."
    )


class QrAmbiguousError(QrError):
    """More than one different QR code in one image: which one was meant is unclear."""

    code = "qr_multiple"
    message = N_(
        "The image {path} contains {count} different QR codes. Use an image with only the "
        "ZORG-ID QR code."
    )


class QrInvalidError(QrError):
    """The QR text is not an activation or login pointer of protocol.md."""

    code = "qr_invalid"
    message = N_(
        "This is not a ZORG-ID QR code ({reason}). Give an image file with the QR code, or the "
        "text it contains."
    )


class QrWrongKindError(QrError):
    """An activation QR where a login QR was expected, or the reverse."""

    code = "qr_wrong_kind"
    message = N_("This is {found}, not {expected}. For {found} use: zorgid app {command}")


class QrOtherServiceError(QrError):
    """A login QR of a service other than the one this app is activated with."""

    code = "qr_other_service"
    message = N_(
        "This QR code is for {found}, but this app is activated for {service}. Your PIN is "
        "not sent to another service; nothing was done."
    )


# --- the PIN -------------------------------------------------------------------------------


class PinError(AppError):
    """A PIN the app will not send."""

    code = "pin_error"


class PinFormatError(PinError):
    """The PIN breaks the rules of protocol.md (checked before anything is sent)."""

    code = "pin_format"
    message = N_("The PIN is not valid: {reason}.")


class PinMismatchError(PinError):
    """The two entries of a new PIN differ."""

    code = "pin_mismatch"
    message = N_("The two PINs are not the same. Nothing was sent; try again.")


class PinMissingError(PinError):
    """There is no PIN to read: standard input ended, or there is no terminal to ask."""

    code = "pin_missing"
    message = N_("{reason}")
    exit_code = EXIT_USAGE


# --- the home directory --------------------------------------------------------------------


class HomeError(AppError):
    """The app's home directory is in a state the command cannot use."""

    code = "home_error"


class NotActivatedError(HomeError):
    """There is no activation in the home directory."""

    code = "not_activated"
    message = N_(
        "This app is not activated (home: {home}). Scan an activation QR code first: zorgid app "
        "--home {home} activate SOURCE"
    )


class AlreadyActivatedError(HomeError):
    """The home already holds an active device."""

    code = "already_activated"
    message = N_(
        "This app is already activated for {service} (device {device_id}). Use another --home "
        "directory for a second activation."
    )


class HomeCorruptError(HomeError):
    """A file in the home directory is damaged or not what the app wrote."""

    code = "home_corrupt"
    message = N_(
        "The file {path} of this app is damaged or missing ({reason}). Remove the home "
        "directory and activate again."
    )
    exit_code = EXIT_USAGE


class HomeWriteError(HomeError):
    """The home directory could not be written."""

    code = "home_write"
    message = N_("The app could not write {path}: {reason}.")
    exit_code = EXIT_USAGE


# --- a login -------------------------------------------------------------------------------


class LoginError(AppError):
    """A login that cannot go on."""

    code = "login_error"


class LoginEndedError(LoginError):
    """The login reached a final state while the app waited (declined, failed, ...)."""

    code = "login_ended"
    message = N_("The login has ended ({state}); nothing was approved. Start a new login.")


class LoginTimeoutError(LoginError):
    """The browser did not confirm the code before the login expired."""

    code = "login_expired"
    message = N_(
        "The code was not typed in the browser in time; the login has expired. Start a new login."
    )


# --- the service ---------------------------------------------------------------------------


class ServiceError(AppError):
    """Something about talking to the service."""

    code = "service_error"


class ServiceUnreachableError(ServiceError):
    """No answer at all: no connection, a broken connection."""

    code = "service_unreachable"
    message = N_("The service at {url} could not be reached: {reason}. Try again later.")
    exit_code = EXIT_USAGE


class ServiceTimeoutError(ServiceUnreachableError):
    """The service did not answer in time."""


class ServiceResponseError(ServiceError):
    """The service answered something the protocol does not allow (5xx, not JSON, ...)."""

    code = "service_response"
    message = N_(
        "The service at {url} gave an unexpected answer ({reason}). Try again later; if it "
        "keeps happening, tell the service desk."
    )
    exit_code = EXIT_USAGE


class ServiceRefusedError(ServiceError):
    """The service refused with a protocol error: its own code and its own (translated) text."""

    code = "service_refused"
    message = N_("The service refused ({code}).")
    #: The protocol codes that have a class of their own (filled by subclasses).
    known: ClassVar[dict[str, type[ServiceRefusedError]]] = {}

    def __init__(
        self,
        detail: str = "",
        *,
        server_message: str,
        remaining_attempts: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(detail or server_message)
        self.server_message = server_message
        self.remaining_attempts = remaining_attempts
        self.retry_after = retry_after

    def __init_subclass__(cls, *, register: bool = True, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if register:
            ServiceRefusedError.known.setdefault(cls.code, cls)

    @staticmethod
    def for_code(code: str) -> type[ServiceRefusedError]:
        """The class for a service's error ``code`` (a new subclass for a code not listed)."""
        return ServiceRefusedError.known.get(code) or _unlisted_refusal(code)

    def public_message(self, lang: str) -> str:
        """The service's text, plus the attempts left and the wait where it does not say them.

        Our service's texts already carry both numbers; another service's may not.
        """
        text = self.server_message or translate(self.message, lang).format(code=self.code)
        parts = [text]
        if self.remaining_attempts is not None and str(self.remaining_attempts) not in text:
            parts.append(
                translate(N_("Attempts left: {count}."), lang).format(count=self.remaining_attempts)
            )
        if self.retry_after is not None and str(self.retry_after) not in text:
            parts.append(
                translate(N_("Wait {seconds} seconds before trying again."), lang).format(
                    seconds=self.retry_after
                )
            )
        return " ".join(parts)


@functools.cache
def _unlisted_refusal(code: str) -> type[ServiceRefusedError]:
    # A code newer than this app: still a ServiceRefusedError, still carrying the service's code.
    def body(namespace: dict[str, object]) -> None:
        namespace["code"] = code
        namespace["__doc__"] = f"The service said {code}."

    return types.new_class(f"Refusal_{code}", (ServiceRefusedError,), {"register": False}, body)


class ActivationUnknownError(ServiceRefusedError):
    """No such activation code, or the wrong nonce (the service does not say which)."""

    code = "activation_unknown"


class ActivationUsedError(ServiceRefusedError):
    """The activation code was used before."""

    code = "activation_used"


class ActivationExpiredError(ServiceRefusedError):
    """The activation code has expired."""

    code = "activation_expired"


class ActivationLockedError(ServiceRefusedError):
    """Too many wrong nonces for this activation code."""

    code = "activation_locked"


class ServicePinFormatError(ServiceRefusedError):
    """The service's PIN rules refused the PIN."""

    code = "pin_format"


class SignatureInvalidError(ServiceRefusedError):
    """The service could not verify the device's signature (or its timestamp)."""

    code = "signature_invalid"


class BadRequestError(ServiceRefusedError):
    """The service found the request malformed."""

    code = "bad_request"


class LoginUnknownError(ServiceRefusedError):
    """No such login, or the wrong nonce."""

    code = "login_unknown"


class LoginExpiredError(ServiceRefusedError):
    """The login has expired at the service."""

    code = "login_expired"


class LoginTakenError(ServiceRefusedError):
    """Another device scanned this login first."""

    code = "login_taken"


class DeviceUnknownError(ServiceRefusedError):
    """The service does not know this device."""

    code = "device_unknown"


class DeviceGoneError(ServiceRefusedError, register=False):
    """The device may no longer be used: the app wipes its key and activation."""

    code = "device_gone"


class DeviceBlockedError(DeviceGoneError):
    """Blocked after too many wrong PINs."""

    code = "device_blocked"


class DeviceRevokedError(DeviceGoneError):
    """Revoked by the person, a beheerder or the operator."""

    code = "device_revoked"


class PinWrongError(ServiceRefusedError):
    """A wrong PIN; ``remaining_attempts`` says how many are left."""

    code = "pin_wrong"


class PinWaitError(ServiceRefusedError):
    """Too many wrong PINs lately; ``retry_after`` says how long to wait."""

    code = "pin_wait"
