"""Errors of outgoing and incoming e-mail.

::

    ZorgidError
    └── MailError
        ├── MailHeaderError          (a header value with a line break, or a missing address)
        ├── MailDeliveryError        (the SMTP relay refused or was unreachable; .temporary)
        ├── MailUnknownError         (no such message in the outbox)
        └── InboundMailError         (a received e-mail we will not read)
            ├── MailTooLargeError    (limit_mb)
            ├── MailTooComplexError  (too many parts, or nested too deeply: a MIME bomb)
            └── MailMalformedError   (not a well-formed message)
"""

from __future__ import annotations

from zorgid.core.i18n import N_
from zorgid.errors import ZorgidError

MEGABYTE = 1_048_576


class MailError(ZorgidError):
    """Base of e-mail errors."""

    code = "mail_error"


class MailHeaderError(MailError):
    """A header of an e-mail to compose is not acceptable (header injection, no address)."""

    code = "mail_header"
    message = N_(
        "This e-mail cannot be made: an address or the subject contains a line break or is "
        "not a valid e-mail address. Check the e-mail address and try again."
    )


class MailDeliveryError(MailError):
    """The SMTP relay did not take the message; ``temporary`` says whether to try again."""

    code = "mail_delivery"
    message = N_("The e-mail could not be delivered to the mail server.")

    def __init__(self, detail: str = "", *, temporary: bool) -> None:
        super().__init__(detail)
        self.temporary = temporary


class MailUnknownError(MailError):
    """No such message in the outbox."""

    code = "mail_unknown"
    message = N_("This e-mail is not known.")


class InboundMailError(MailError):
    """Base of the refusals of a received e-mail: each says what was wrong and what to do."""

    code = "mail_inbound"


class MailTooLargeError(InboundMailError):
    """The e-mail, or its attachments together, exceed the size limit."""

    code = "mail_too_large"
    message = N_(
        "Your e-mail is too large: at most {limit_mb} MB is accepted. Reply again with only "
        "the signed document attached, without other files or pictures."
    )

    def __init__(self, detail: str = "", *, limit_bytes: int) -> None:
        super().__init__(detail, limit_mb=f"{limit_bytes / MEGABYTE:.3g}")


class MailTooComplexError(InboundMailError):
    """Too many MIME parts, or parts nested too deeply (a MIME bomb, or a forwarded chain)."""

    code = "mail_too_complex"
    message = N_(
        "Your e-mail has too many parts or attachments, or parts nested too deeply, to be "
        "read safely. Reply again with a plain e-mail that has only the signed document "
        "attached (do not forward it inside another e-mail)."
    )


class MailMalformedError(InboundMailError):
    """The bytes are not a well-formed e-mail message."""

    code = "mail_malformed"
    message = N_(
        "Your e-mail could not be read: it is not a well-formed e-mail message. Reply again "
        "from your e-mail program with the signed document attached."
    )
