"""Errors of the organisation-document core.

::

    OrgdocError
    ├── DocumentError       document_* (size, parsing, forbidden constructs, schema)
    ├── SignatureError      signature_* (the signature profile and its cryptography)
    ├── SigningError        signing_* (keys and tokens while signing)
    │   └── Pkcs11Error     signing_pkcs11 (token problems not covered below)
    │       ├── Pkcs11ModuleError               signing_pkcs11_module
    │       ├── Pkcs11TokenError                signing_pkcs11_token
    │       ├── Pkcs11KeyError                  signing_pkcs11_key
    │       ├── Pkcs11PinError                  signing_pkcs11_pin
    │       │   └── Pkcs11PinLockedError        signing_pkcs11_pin_locked
    │       ├── Pkcs11CertificateError          signing_pkcs11_certificate
    │       └── Pkcs11CertificateMismatchError  signing_pkcs11_certificate_mismatch
    └── BindingError        ura_mismatch, challenge_mismatch, request_mismatch
"""

from __future__ import annotations

from typing import ClassVar

from zorgid.core.i18n import N_
from zorgid.errors import ZorgidError


class OrgdocError(ZorgidError):
    """Base of the organisation-document errors."""

    code: ClassVar[str] = "orgdoc_error"
    message: ClassVar[str] = N_("The organisation document could not be processed.")


class DocumentError(OrgdocError):
    """The file is not an acceptable organisation document."""

    code: ClassVar[str] = "document_invalid"
    message: ClassVar[str] = N_("The organisation document is not valid: {reason}.")


class SignatureError(OrgdocError):
    """The signature does not meet the profile or does not verify."""

    code: ClassVar[str] = "signature_invalid"
    message: ClassVar[str] = N_(
        "The signature of the organisation document is not valid: {reason}. Sign the document "
        "again with the validation tool and send the new file."
    )


class SigningError(OrgdocError):
    """Signing could not be done with the given key or token."""

    code: ClassVar[str] = "signing_failed"
    message: ClassVar[str] = N_("The document could not be signed: {reason}.")
    exit_code: ClassVar[int] = 2


class Pkcs11Error(SigningError):
    """The PKCS#11 module, token, key or PIN could not be used."""

    code: ClassVar[str] = "signing_pkcs11"
    message: ClassVar[str] = N_(
        "The key on the token could not be used: {reason}. Check the module path, token label, "
        "key label and PIN."
    )


class BindingError(OrgdocError):
    """The signed document belongs to another organisation or request."""

    code: ClassVar[str] = "binding_mismatch"
    message: ClassVar[str] = N_("The document does not belong to this request: {reason}.")


# --- PKCS#11 tokens (zorgid.orgdoc.pkcs11); every one also carries a ``reason`` param ---------


class Pkcs11ModuleError(Pkcs11Error):
    """The PKCS#11 module (the token vendor's library) could not be loaded."""

    code: ClassVar[str] = "signing_pkcs11_module"
    message: ClassVar[str] = N_(
        "The PKCS#11 module {module} could not be loaded: {reason}. Give the full path of the "
        "token vendor's library (.so or .dll) with --pkcs11-module."
    )


class Pkcs11TokenError(Pkcs11Error):
    """No (single) token with the given label is present."""

    code: ClassVar[str] = "signing_pkcs11_token"
    message: ClassVar[str] = N_(
        'The token "{label}" was not found: {reason}. Tokens present: {present}. Check '
        "--token-label and that the smartcard or HSM is connected."
    )


class Pkcs11KeyError(Pkcs11Error):
    """No (single, usable) private key with the given label is on the token."""

    code: ClassVar[str] = "signing_pkcs11_key"
    message: ClassVar[str] = N_(
        'The private key "{label}" on token "{token}" cannot be used: {reason}. Private keys '
        "present: {present}. Check --key-label."
    )


class Pkcs11PinError(Pkcs11Error):
    """The token did not accept the PIN (wrong, missing, expired)."""

    code: ClassVar[str] = "signing_pkcs11_pin"
    message: ClassVar[str] = N_(
        'The PIN for token "{token}" was not accepted: {reason}. Check the PIN (--pin-file); '
        "too many wrong attempts lock the token."
    )


class Pkcs11PinLockedError(Pkcs11PinError):
    """The token's user PIN is locked after too many wrong attempts."""

    code: ClassVar[str] = "signing_pkcs11_pin_locked"
    message: ClassVar[str] = N_(
        'The PIN of token "{token}" is locked after too many wrong attempts. Unblock it with the '
        "token's own management software (PUK or security officer PIN) and sign again."
    )


class Pkcs11CertificateError(Pkcs11Error):
    """The token holds no usable certificate for the key."""

    code: ClassVar[str] = "signing_pkcs11_certificate"
    message: ClassVar[str] = N_(
        'No usable certificate for key "{label}" was found on token "{token}": {reason}. You may '
        "give the certificate as a PEM file with --cert instead."
    )


class Pkcs11CertificateMismatchError(Pkcs11Error):
    """The certificate's public key is not the public half of the private key on the token."""

    code: ClassVar[str] = "signing_pkcs11_certificate_mismatch"
    message: ClassVar[str] = N_(
        'The certificate "{subject}" does not belong to the private key "{label}" on the token: '
        "{reason}. Choose the key label and certificate that belong together."
    )


class UraMismatchError(BindingError):
    """The URA in the document is not the URA of the signing certificate."""

    code: ClassVar[str] = "ura_mismatch"
    message: ClassVar[str] = N_(
        "The document is for URA {document_ura}, but it was signed with the UZI server "
        "certificate of URA {certificate_ura}. Sign with your own organisation's certificate, "
        "or correct the URA in the document."
    )


class UnexpectedUraError(BindingError):
    """The document is for another organisation than the one expected."""

    code: ClassVar[str] = "ura_unexpected"
    message: ClassVar[str] = N_(
        "The document is for URA {document_ura}, but this request is for URA {expected_ura}."
    )


class ChallengeMismatchError(BindingError):
    """The challenge in the document is not the one this request issued."""

    code: ClassVar[str] = "challenge_mismatch"
    message: ClassVar[str] = N_(
        "The challenge (Uitdaging) in the document does not belong to this request. Use the "
        "document attached to the most recent request e-mail, sign it and send it again."
    )


class RequestMismatchError(BindingError):
    """The request number in the document is not the one expected."""

    code: ClassVar[str] = "request_mismatch"
    message: ClassVar[str] = N_(
        "The document is for request {document_request}, not for request {expected_request}."
    )


class NotSignedYetError(OrgdocError):
    """A signed document lacks its Ondertekend time."""

    code: ClassVar[str] = "document_signing_time_missing"
    message: ClassVar[str] = N_(
        "The signed document has no signing time (Ondertekend). Sign it with the validation tool."
    )


class ChallengeUnknownError(BindingError):
    """No request issued this challenge (or this request number)."""

    code: ClassVar[str] = "challenge_unknown"
    message: ClassVar[str] = N_(
        "The challenge (Uitdaging) in the document was not issued for request {request}. Use the "
        "document attached to the request e-mail, sign it and send it again."
    )


class ChallengeUsedError(BindingError):
    """The challenge was redeemed before: a replayed document."""

    code: ClassVar[str] = "challenge_used"
    message: ClassVar[str] = N_(
        "This signed document was already received and processed; a challenge can be used only "
        "once. If you want to send a new document, ask for a new request."
    )


class ChallengeExpiredError(BindingError):
    """The challenge's lifetime ended before the document arrived."""

    code: ClassVar[str] = "challenge_expired"
    message: ClassVar[str] = N_(
        "The challenge in the document expired on {expired_at}. Ask for a new request and sign "
        "the new document."
    )


class EnvironmentMismatchError(BindingError):
    """A document for production signed with a test certificate."""

    code: ClassVar[str] = "environment_mismatch"
    message: ClassVar[str] = N_(
        "The document is for the production environment (Omgeving: productie), but it was signed "
        "with a test certificate. Sign with the organisation's production UZI server certificate."
    )


class SigningKeyMismatchError(SigningError):
    """The private key given does not belong to the certificate given."""

    code: ClassVar[str] = "signing_key_mismatch"
    message: ClassVar[str] = N_(
        "The private key does not belong to the certificate {subject}. Give the key and the "
        "certificate of the same UZI server certificate (a PKCS#12 file holds both together)."
    )
