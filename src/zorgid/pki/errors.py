"""Errors of the PKI core.

::

    PkiError
    ├── CertificateFormatError            certificate_unreadable, key_unreadable, pkcs12_password
    ├── CrlUnreadableError                crl_unreadable (a configured CRL file)
    ├── UziFormatError                    uzi_* (the subjectAltName otherName value is malformed)
    ├── UziConsistencyError               uzi_inconsistent_* (fields disagree with each other)
    └── CertificateValidationError        certificate_* (path, time, usage, revocation)
        ├── CertificateRevokedError       certificate_revoked
        └── RevocationUnknownError        certificate_revocation_unknown (no usable CRL/OCSP)
            └── OcspResponseError         ocsp_response_invalid (an OCSP answer fails its checks)
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


class UziEncodingError(UziFormatError):
    """A subjectAltName otherName value is not the strict DER the profile requires."""

    code: ClassVar[str] = "uzi_encoding"
    message: ClassVar[str] = N_(
        "A value in the certificate's subjectAltName is not correctly DER-encoded ({reason}). "
        "This is not a valid UZI-register certificate."
    )


class UziExtensionsError(UziFormatError):
    """The certificate's extensions, and so its subjectAltName, cannot be decoded."""

    code: ClassVar[str] = "uzi_extensions_unreadable"
    message: ClassVar[str] = N_(
        "The certificate's extensions, among them the subjectAltName with the UZI "
        "identification, are not correctly encoded and cannot be read. "
        "This is not a valid UZI-register certificate."
    )


class UziFieldCountError(UziFormatError):
    """The UZI value does not have exactly seven dash-separated fields."""

    code: ClassVar[str] = "uzi_field_count"
    message: ClassVar[str] = N_(
        "The certificate's UZI identification has {count} parts separated by '-', but it must "
        "have 7: OID-version-UZI number-card type-URA-role-AGB."
    )


class UziUnknownOidError(UziFormatError):
    """The UZI value names a CA OID that no configured environment knows."""

    code: ClassVar[str] = "uzi_unknown_oid"
    message: ClassVar[str] = N_(
        "The certificate's UZI identification names the CA {oid}, which is not a UZI-register "
        "CA of any configured environment (production or test)."
    )


class UziVersionError(UziFormatError):
    """The UZI value's version field is not 1."""

    code: ClassVar[str] = "uzi_version"
    message: ClassVar[str] = N_(
        "The certificate's UZI identification has version {value}; only version 1 is supported."
    )


class UziNumberError(UziFormatError):
    """The UZI number is not exactly nine ASCII digits."""

    code: ClassVar[str] = "uzi_number_invalid"
    message: ClassVar[str] = N_(
        "The certificate's UZI number {value} is not valid: it must be exactly 9 digits (0-9)."
    )


class UziCardTypeError(UziFormatError):
    """The card type is not one of Z, N, M, S."""

    code: ClassVar[str] = "uzi_card_type_invalid"
    message: ClassVar[str] = N_(
        "The certificate's UZI card type {value} is not valid: it must be Z, N, M or S."
    )


class UziCardTypeMismatchError(UziFormatError):
    """The card type differs from the one the CA OID issues."""

    code: ClassVar[str] = "uzi_card_type_mismatch"
    message: ClassVar[str] = N_(
        "The certificate's UZI card type {card_type} does not match its CA {oid}, which "
        "issues card type {expected}."
    )


class UziUraError(UziFormatError):
    """The URA (subscriber number) is not exactly eight ASCII digits."""

    code: ClassVar[str] = "uzi_ura_invalid"
    message: ClassVar[str] = N_(
        "The certificate's URA (UZI-register subscriber number) {value} is not valid: it must "
        "be exactly 8 digits (0-9)."
    )


class UziRoleError(UziFormatError):
    """The role code is not of the form NN.NNN in ASCII digits."""

    code: ClassVar[str] = "uzi_role_invalid"
    message: ClassVar[str] = N_(
        "The certificate's UZI role {value} is not valid: it must have the form NN.NNN with "
        "digits 0-9, for example 01.015."
    )


class UziRoleNotAllowedError(UziFormatError):
    """The role code does not fit the card type (Z needs a profession, N/M/S need 00.000)."""

    code: ClassVar[str] = "uzi_role_not_allowed"
    message: ClassVar[str] = N_(
        "The certificate's UZI role {value} does not fit card type {card_type}: a Z card needs "
        "a profession code other than 00, and N, M and S cards must have role 00.000."
    )


class UziAgbError(UziFormatError):
    """The AGB code is not exactly eight ASCII digits."""

    code: ClassVar[str] = "uzi_agb_invalid"
    message: ClassVar[str] = N_(
        "The certificate's AGB code {value} is not valid: it must be exactly 8 digits (0-9), "
        "or 00000000 when there is none."
    )


class UziMultipleValuesError(UziConsistencyError):
    """A field that identifies the holder occurs more than once."""

    code: ClassVar[str] = "uzi_multiple_values"
    message: ClassVar[str] = N_(
        "The certificate carries {count} values for {field}, but may carry only one."
    )


class UziSerialNumberMismatchError(UziConsistencyError):
    """The subject serialNumber differs from the UZI number."""

    code: ClassVar[str] = "uzi_inconsistent_serial_number"
    message: ClassVar[str] = N_(
        "The certificate's subject serialNumber {serial_number} differs from its UZI number "
        "{uzi_number}."
    )


class UziUpnMismatchError(UziConsistencyError):
    """The user principal name differs from ``<UZI number>@<URA>``."""

    code: ClassVar[str] = "uzi_inconsistent_upn"
    message: ClassVar[str] = N_(
        "The certificate's user principal name {upn} differs from {expected} (UZI number@URA)."
    )


class UziPermanentIdentifierMismatchError(UziConsistencyError):
    """The permanentIdentifier is not the URA in the URA namespace."""

    code: ClassVar[str] = "uzi_inconsistent_permanent_identifier"
    message: ClassVar[str] = N_(
        "The certificate's permanentIdentifier (value {value}, assigner {assigner}) differs "
        "from its URA {ura} with assigner {expected_assigner}."
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
    message: ClassVar[str] = N_("The certificate may not be used for this purpose: {reason}.")


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


class CertificateMalformedError(CertificateValidationError):
    """The certificate parses, but a part validation needs (a key, an extension) does not."""

    code: ClassVar[str] = "certificate_malformed"
    message: ClassVar[str] = N_(
        "The certificate is malformed ({reason}). Sign with the organisation's UZI server "
        "certificate as issued by the UZI-register."
    )


class CertificateCaExpiredError(CertificateUntrustedError):
    """A CA certificate on the path to the trust anchor is not valid at the verification time."""

    code: ClassVar[str] = "certificate_ca_expired"
    message: ClassVar[str] = N_(
        "The certificate of the issuing CA {ca} is not valid at this time (valid from "
        "{not_before} to {not_after}). Check the computer's clock, or use a certificate from "
        "the current UZI-register CA."
    )


class CertificateCardTypeNotAllowedError(CertificateCardTypeError):
    """The UZI card type is not among those a purpose other than server signing allows."""

    code: ClassVar[str] = "certificate_card_type"
    message: ClassVar[str] = N_(
        "The certificate is a UZI certificate of card type {card_type}, but this requires card "
        "type {allowed}."
    )


class OcspResponseError(RevocationUnknownError):
    """The OCSP responder answered, but its answer cannot be trusted or does not fit."""

    code: ClassVar[str] = "ocsp_response_invalid"
    message: ClassVar[str] = N_(
        "Whether the certificate was revoked could not be checked: the revocation service's "
        "answer is not valid ({reason}). Try again later."
    )


class CrlUnreadableError(PkiError):
    """A configured CRL file cannot be read or is not a CRL (PEM or DER)."""

    code: ClassVar[str] = "crl_unreadable"
    message: ClassVar[str] = N_(
        "The file {path} does not contain a readable certificate revocation list (PEM or DER). "
        "Check the configured CRL files."
    )
    exit_code: ClassVar[int] = 2
