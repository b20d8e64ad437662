"""Errors of the organisation-document core.

::

    OrgdocError
    ├── DocumentError       document_* (size, parsing, forbidden constructs, schema)
    ├── SignatureError      signature_* (the signature profile and its cryptography)
    ├── SigningError        signing_* (keys and tokens while signing)
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
