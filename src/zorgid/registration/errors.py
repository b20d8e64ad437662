"""Errors of registration requests (flow 1b).

::

    ZorgidError
    └── RegistrationError
        ├── FormInvalidError            (problems: field -> msgid or Message; form shown again)
        ├── RequestUnknownError         (no request behind a token or id)
        ├── TransitionNotAllowedError   (the request's state does not allow this)
        ├── OrganisationExistsError     (the URA is already registered)
        ├── AdministratorIsOperatorError (the administrator's address is an operator's)
        ├── DocumentValuesError         (a valid signature over values the service cannot use)
        ├── TrustNotConfiguredError     (no trust anchors: documents cannot be checked)
        ├── MailLimitError              (today's e-mails for this address or URA are used up)
        ├── ProofOfWorkError            (the public form's proof of work is missing or wrong)
        │   └── ProofOfWorkMissingError (the browser has not solved it yet)
        └── MailIntakeError             (a reply mail the service cannot use)
            ├── NoAttachmentError
            └── TooManyAttachmentsError
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zorgid.core.i18n import N_, Message
from zorgid.errors import ZorgidError

if TYPE_CHECKING:
    from collections.abc import Mapping


class RegistrationError(ZorgidError):
    """Base of registration errors."""

    code = "registration_error"


class FormInvalidError(RegistrationError):
    """One or more fields of a form are missing or not acceptable."""

    code = "form_invalid"
    message = N_("Some fields are missing or not filled in correctly. See the messages below.")

    def __init__(self, problems: Mapping[str, str | Message]) -> None:
        super().__init__(", ".join(f"{k}: {v}" for k, v in problems.items()))
        #: Field name -> what is wrong there: an English msgid, or a Message naming data.
        self.problems = dict(problems)


class RequestUnknownError(RegistrationError):
    """No request behind this link, address or id (or the link was replaced by a newer one)."""

    code = "registration_unknown"
    message = N_(
        "This link or address belongs to no current request. It may have been replaced by a "
        "newer e-mail: use the link in the latest e-mail from ZORG-ID."
    )


class TransitionNotAllowedError(RegistrationError):
    """The request is in a state where this cannot happen (any more)."""

    code = "registration_state"
    message = N_("This is not possible any more: the request is now '{state}'.")


class OrganisationExistsError(RegistrationError):
    """Approving would register an organisation whose URA is already registered."""

    code = "organisation_exists"
    message = N_(
        "An organisation with URA {ura} is already registered. Reject this request with a "
        "reason, or contact the organisation."
    )


class AdministratorIsOperatorError(RegistrationError):
    """Approving would mail an activation code for an operator's account to the organisation."""

    code = "administrator_is_operator"
    message = N_(
        "The portal administrator's e-mail address {email} belongs to an operator of ZORG-ID. "
        "An operator cannot be approved as an organisation's administrator this way: reject "
        "this request with a reason and ask the organisation to name someone else."
    )


class DocumentValuesError(RegistrationError):
    """The signed document is genuine, but some of its values are not acceptable."""

    code = "document_values_invalid"
    message = N_(
        "The signature is valid, but these fields of the document cannot be used: {fields}. "
        "Give one plain e-mail address per person (such as naam@praktijk.nl), names without "
        "< or >, and applications from the list of accepted applications. Correct the fields "
        "with the validation tool (zorgid validatietool fill), sign the document again and "
        "send the new file."
    )


class TrustNotConfiguredError(RegistrationError):
    """The service has no trust anchors, so no signed document can be checked."""

    code = "trust_not_configured"
    message = N_(
        "The service cannot check signed documents yet: no trust anchors are configured "
        "(ZORGID_TRUST_ANCHORS). Please contact the ZORG-ID operator."
    )
    exit_code = 2


class MailLimitError(RegistrationError):
    """The public form may not cause more e-mail today to this address or about this URA.

    The message does not say which of the two, nor how many were sent: whoever fills in the
    form learns no more about another's address than that it cannot be used today.
    """

    code = "mail_limit"
    message = N_(
        "This request cannot be sent today: ZORG-ID has already sent as many e-mails as it "
        "sends in one day for this e-mail address or this URA number. Nothing has been sent "
        "or stored. Try again tomorrow, or contact the ZORG-ID operator if you need help."
    )


class ProofOfWorkError(RegistrationError):
    """The proof of work sent with the public form is invalid, expired or used before."""

    code = "proof_of_work_invalid"
    message = N_(
        "Your browser's check that a person sends this form has expired or could not be "
        "accepted. Nothing has been sent. Wait until the check below says it is done, then "
        "send the form again."
    )


class ProofOfWorkMissingError(ProofOfWorkError):
    """The public form came without a proof of work (not solved yet, or JavaScript is off)."""

    code = "proof_of_work_missing"
    message = N_(
        "Your browser has not yet finished the check that a person sends this form. Nothing "
        "has been sent. Wait until the check below says it is done, then send the form again. "
        "The check needs JavaScript: if it is turned off, turn it on for this site."
    )


class MailIntakeError(RegistrationError):
    """A reply mail the service cannot use."""

    code = "mail_unusable"


class NoAttachmentError(MailIntakeError):
    """The reply carried no attachment."""

    code = "mail_no_attachment"
    message = N_(
        "Your e-mail had no attachment. Reply to the request e-mail again with the signed "
        "organisation document (the .xml file the validation tool wrote) attached."
    )


class TooManyAttachmentsError(MailIntakeError):
    """The reply carried more than one attachment: which one is meant is not for us to guess."""

    code = "mail_too_many_attachments"
    message = N_(
        "Your e-mail had {count} attachments. Reply again with only the signed organisation "
        "document attached (remove signatures-as-images and other files)."
    )
