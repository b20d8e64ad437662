"""Errors of people, devices, PINs and activation codes.

::

    ZorgidError
    └── IdentityError
        ├── BadRequestError          (malformed field in an app request)
        ├── SignatureInvalidError    (device signature does not verify)
        ├── ActivationError
        │   ├── ActivationUnknownError   (no such code, or a wrong nonce)
        │   ├── ActivationUsedError
        │   ├── ActivationExpiredError
        │   └── ActivationLockedError    (too many wrong nonces)
        ├── PinFormatError
        ├── PinWrongError            (remaining_attempts)
        │   └── PinWrongWaitError    (remaining_attempts, retry_after: this try starts a wait)
        ├── PinWaitError             (retry_after, remaining_attempts)
        ├── DeviceError
        │   ├── DeviceUnknownError
        │   ├── DeviceBlockedError
        │   └── DeviceRevokedError
        └── PersonError
            ├── PersonInvalidError   (name or e-mail not acceptable)
            ├── PersonUnknownError
            └── PersonExistsError
"""

from __future__ import annotations

from zorgid.core.i18n import N_
from zorgid.errors import ZorgidError


class IdentityError(ZorgidError):
    """Base of identity errors."""

    code = "identity_error"


class BadRequestError(IdentityError):
    """A field of an app request is missing or malformed."""

    code = "bad_request"
    message = N_("The request is not valid: {reason}")


class SignatureInvalidError(IdentityError):
    """The device's signature does not verify with its registered key."""

    code = "signature_invalid"
    message = N_("The app's signature is not valid. Update the app, or activate it again.")


class ActivationError(IdentityError):
    """Base of activation-code errors."""


class ActivationUnknownError(ActivationError):
    """No such activation code (or a wrong nonce: the same answer, so guessing teaches nothing)."""

    keeps_changes = True

    code = "activation_unknown"
    message = N_(
        "This activation QR code is not known. Scan the code from your most recent activation "
        "message, or ask for a new one."
    )


class ActivationUsedError(ActivationError):
    """The code was redeemed before: one code, one device."""

    keeps_changes = True

    code = "activation_used"
    message = N_(
        "This activation QR code has already been used. Each code works once; ask for a new one "
        "if you did not use it yourself."
    )


class ActivationExpiredError(ActivationError):
    """The code's lifetime is over."""

    keeps_changes = True

    code = "activation_expired"
    message = N_("This activation QR code has expired. Ask for a new one.")


class ActivationLockedError(ActivationError):
    """Too many wrong attempts at this code: it no longer works."""

    keeps_changes = True

    code = "activation_locked"
    message = N_(
        "This activation QR code was tried too often and no longer works. Ask for a new one."
    )


class PinFormatError(IdentityError):
    """The chosen PIN does not follow the rules."""

    code = "pin_format"
    message = N_(
        "Choose a PIN of exactly five digits that are not all the same and not a straight run "
        "such as 12345."
    )


class PinWrongError(IdentityError):
    """The PIN is wrong; some attempts remain."""

    keeps_changes = True

    code = "pin_wrong"
    message = N_("The PIN is not correct. Attempts left: {remaining_attempts}.")


class PinWrongWaitError(PinWrongError):
    """The PIN is wrong, and this try starts a wait: the answer says how long (``retry_after``).

    The same code as :class:`PinWrongError` (the try was judged and counted), with the wait that
    a next try would otherwise only learn from a ``pin_wait`` refusal.
    """

    message = N_(
        "The PIN is not correct. Attempts left: {remaining_attempts}. Wait {retry_after} "
        "seconds before trying again."
    )


class PinWaitError(IdentityError):
    """Too many wrong PINs lately: wait before the next try."""

    keeps_changes = True  # the refusal is audited

    code = "pin_wait"
    message = N_(
        "Too many wrong PINs. Wait {retry_after} seconds before trying again. "
        "Attempts left: {remaining_attempts}."
    )


class DeviceError(IdentityError):
    """Base of device errors."""


class DeviceUnknownError(DeviceError):
    """The app's device is not known here."""

    code = "device_unknown"
    message = N_("This app is not activated with this service. Activate it first.")


class DeviceBlockedError(DeviceError):
    """Blocked after too many wrong PINs: activate again."""

    keeps_changes = True

    code = "device_blocked"
    message = N_(
        "This app is blocked because the PIN was entered wrongly too often. Ask for a new "
        "activation QR code and activate the app again."
    )


class DeviceRevokedError(DeviceError):
    """Revoked by the person, a beheerder or the operator: activate again."""

    code = "device_revoked"
    message = N_(
        "This app has been switched off for your account. Ask for a new activation QR code if "
        "you want to use it again."
    )


class PersonError(IdentityError):
    """Base of person errors."""


class PersonInvalidError(PersonError):
    """A name or e-mail address is not acceptable."""

    code = "person_invalid"
    message = N_("The person's details are not valid: {reason}")


class PersonExistsError(PersonError):
    """Someone with this e-mail address exists already."""

    code = "person_exists"
    message = N_("Someone with the e-mail address {email} is already registered.")


class PersonUnknownError(PersonError):
    """Nobody is registered with this e-mail address."""

    code = "person_unknown"
    message = N_("Nobody is registered with the e-mail address {email}.")
