"""Errors of the PKI core.

::

    PkiError
    ├── CertificateFormatError            certificate_unreadable, key_unreadable, pkcs12_password ...
    ├── UziFormatError                    uzi_* (the subjectAltName otherName value is malformed)
    ├── UziConsistencyError               uzi_inconsistent_* (fields disagree with each other)
    └── CertificateValidationError        certificate_* (path, time, usage, revocation)
        ├── CertificateRevokedError       certificate_revoked
        └── RevocationUnknownError        certificate_revocation_unknown (no usable CRL/OCSP)
"""

from __future__ import annotations

from typing import ClassVar

from zorgid.core.i18n import N_
from zorgid.errors import ZorgidError


class PkiError(ZorgidError):
    """Base of the PKI core's errors."""

    code: ClassVar[str] = "pki_error"
    message: ClassVar[str] = N_("The certificate could not be processed.")


# --- reading files -------------------------------------------------------------------------


class CertificateFormatError(PkiError):
    """A file that should hold a certificate, key or PKCS#12 bundle does not."""

    code: ClassVar[str] = "certificate_unreadable"
    message: ClassVar[str] = N_(
        "The file {path} does not contain a readable certificate (PEM, DER or PKCS#12). "
        "Check that you chose the right file."
    )
    exit_code: ClassVar[int] = 2


class PrivateKeyFormatError(CertificateFormatError):
    """A file that should hold a private key does not, or the password is wrong."""

    code: ClassVar[str] = "key_unreadable"
    message: ClassVar[str] = N_(
        "The file {path} does not contain a readable private key, or the password is wrong. "
        "Check the file and the password."
    )


class Pkcs12PasswordError(CertificateFormatError):
    """The PKCS#12 file could not be opened with the given password."""

    code: ClassVar[str] = "pkcs12_password"
    message: ClassVar[str] = N_(
        "The PKCS#12 file {path} could not be opened: the password is wrong or missing. "
        "Give the password with --password-file."
    )


# --- the UZI subjectAltName otherName ---------------------------------------------------------


class UziFormatError(PkiError):
    """The UZI otherName value is not of the form OID-version-UZI-type-URA-role-AGB."""

    code: ClassVar[str] = "uzi_malformed"
    message: ClassVar[str] = N_(
        "The certificate's UZI identification is malformed: {reason}. "
        "This is not a valid UZI-register certificate."
    )


class UziConsistencyError(PkiError):
    """Fields of a UZI certificate contradict each other."""

    code: ClassVar[str] = "uzi_inconsistent"
    message: ClassVar[str] = N_(
        "The certificate's UZI data contradict each other: {reason}. "
        "This is not a valid UZI-register certificate."
    )


# --- validation ---------------------------------------------------------------------------


class CertificateValidationError(PkiError):
    """The certificate cannot be trusted for the purpose at the given time."""

    code: ClassVar[str] = "certificate_invalid"
    message: ClassVar[str] = N_("The certificate cannot be trusted: {reason}.")


class CertificateExpiredError(CertificateValidationError):
    """The certificate's validity ended before the verification time."""

    code: ClassVar[str] = "certificate_expired"
    message: ClassVar[str] = N_(
        "The certificate expired on {not_after}. Sign again with a valid certificate."
    )


class CertificateNotYetValidError(CertificateValidationError):
    """The certificate's validity starts after the verification time."""

    code: ClassVar[str] = "certificate_not_yet_valid"
    message: ClassVar[str] = N_(
        "The certificate is only valid from {not_before}. Check the computer's clock, or sign "
        "again later."
    )


class CertificateUntrustedError(CertificateValidationError):
    """No path from the certificate to a configured trust anchor."""

    code: ClassVar[str] = "certificate_untrusted"
    message: ClassVar[str] = N_(
        "The certificate was not issued by a trusted UZI-register CA ({issuer}). Sign with the "
        "organisation's UZI server certificate."
    )


class CertificateRevokedError(CertificateValidationError):
    """The certificate (or one of its CAs) is revoked."""

    code: ClassVar[str] = "certificate_revoked"
    message: ClassVar[str] = N_(
        "The certificate was revoked on {revoked_at}. Request a new UZI server certificate "
        "from the UZI-register."
    )


class RevocationUnknownError(CertificateValidationError):
    """No current revocation information (CRL or OCSP) covers the certificate."""

    code: ClassVar[str] = "certificate_revocation_unknown"
    message: ClassVar[str] = N_(
        "Whether the certificate was revoked could not be checked: {reason}. Try again later, "
        "or provide a current CRL."
    )


class CertificateUsageError(CertificateValidationError):
    """Key usage or extended key usage does not allow the purpose."""

    code: ClassVar[str] = "certificate_key_usage"
    message: ClassVar[str] = N_(
        "The certificate may not be used for this purpose: {reason}."
    )


class CertificateWeakKeyError(CertificateValidationError):
    """The public key is too weak (RSA < 2048, EC < P-256) or of an unsupported type."""

    code: ClassVar[str] = "certificate_weak_key"
    message: ClassVar[str] = N_(
        "The certificate's key is too weak or of an unsupported type ({reason}). "
        "RSA keys must be at least 2048 bits, EC keys at least P-256."
    )


class CertificateCardTypeError(CertificateValidationError):
    """The UZI card type is not the one required for the purpose."""

    code: ClassVar[str] = "certificate_not_server"
    message: ClassVar[str] = N_(
        "The certificate is a UZI certificate of card type {card_type}, but a UZI server "
        "certificate (type S) is required."
    )


class CertificateNotUziError(CertificateValidationError):
    """The certificate carries no UZI identification at all."""

    code: ClassVar[str] = "certificate_not_uzi"
    message: ClassVar[str] = N_(
        "The certificate is not a UZI-register certificate (it has no UZI identification). "
        "Sign with the organisation's UZI server certificate."
    )
