"""Errors of QR login.

::

    ZorgidError
    └── LoginError
        ├── LoginUnknownError     (no such login, wrong nonce, or not this browser)
        ├── LoginExpiredError
        ├── LoginTakenError       (another app scanned it first)
        ├── LoginStateError       (the step does not fit where the login is)
        ├── LoginCodeWrongError   (remaining_attempts)
        ├── LoginFailedError      (too many wrong codes; start again)
        └── SessionInvalidError   (portal session missing, ended or expired)
"""

from __future__ import annotations

from zorgid.core.i18n import N_
from zorgid.errors import ZorgidError


class LoginError(ZorgidError):
    """Base of login errors."""

    code = "login_error"


class LoginUnknownError(LoginError):
    """No such login for this party."""

    code = "login_unknown"
    message = N_("This login is not known. Reload the login page and scan the new QR code.")


class LoginExpiredError(LoginError):
    """The login took too long."""

    code = "login_expired"
    message = N_("This login has expired. Reload the login page and scan the new QR code.")


class LoginTakenError(LoginError):
    """Another app scanned this QR code first."""

    code = "login_taken"
    message = N_(
        "This QR code was already scanned by another app. Reload the login page and scan the "
        "new QR code."
    )


class LoginStateError(LoginError):
    """The step is not possible at this point of the login."""

    code = "login_state"
    message = N_("This step is not possible now: the login is {state}.")


class LoginCodeWrongError(LoginError):
    """The code typed in the browser is not the one the app shows."""

    keeps_changes = True

    code = "login_code_wrong"
    message = N_(
        "That is not the code your app shows. Check the code in the app and try again. "
        "Attempts left: {remaining_attempts}."
    )


class LoginFailedError(LoginError):
    """The login has ended without success."""

    keeps_changes = True

    code = "login_failed"
    message = N_("This login has been stopped. Reload the login page to start again.")


class SessionInvalidError(LoginError):
    """No valid portal session."""

    code = "session_invalid"
    message = N_("You are not logged in, or your session has ended. Log in again.")
