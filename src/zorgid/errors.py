"""The root of every error zorgid raises on purpose.

Each feature has its own ``errors.py`` whose classes subclass :class:`ZorgidError`::

    ZorgidError
    ├── zorgid.pki.errors.PkiError
    │   ├── CertificateFormatError        (file is not a certificate / key / PKCS#12)
    │   ├── UziFormatError                (subjectAltName otherName is not a UZI value)
    │   ├── UziConsistencyError           (cross-checks between UZI fields fail)
    │   └── CertificateValidationError    (path, validity, usage, revocation)
    └── zorgid.orgdoc.errors.OrgdocError
        ├── DocumentError                 (parsing, schema, forbidden constructs)
        ├── SignatureError                (signature profile and cryptography)
        ├── SigningError                  (keys and tokens when signing)
        └── BindingError                  (URA, challenge, request number)

An error carries a stable machine-readable ``code``, a public ``message`` (an English gettext
msgid with ``{placeholders}``, shown translated to the person) and a ``detail`` that goes to logs
only (English). A parameter that is itself text for the person (a ``reason``) is a
:class:`~zorgid.core.i18n.Message`, or for a ``reason`` without variables a bare ``N_`` msgid;
both are rendered in the person's language. Delivery code (CLI, web) turns errors into exit
codes and responses; nothing else does.
"""

from __future__ import annotations

from typing import ClassVar

from zorgid.core.i18n import N_, localise, translate


class ZorgidError(Exception):
    """Base of all deliberate zorgid errors: stable code, public message, log detail."""

    code: ClassVar[str] = "error"
    message: ClassVar[str] = N_("Something went wrong.")
    #: 1 = refused/invalid input, 2 = usage or I/O problem (see formats.md).
    exit_code: ClassVar[int] = 1
    #: True when the refusal itself is a change to keep (an attempt counted, a device blocked):
    #: the unit of work then commits instead of rolling back.
    keeps_changes: ClassVar[bool] = False

    def __init__(self, detail: str = "", **params: object) -> None:
        self.detail = detail
        self.params = params
        super().__init__(f"{self.code}: {detail or self.message}")

    def public_message(self, lang: str) -> str:
        """The message for the person, in ``lang``, with its parameters filled in."""
        # Any Message is rendered in ``lang``; a plain-str ``reason`` is a msgid (N_) and is
        # translated too; other values are data, shown as they are.
        params = {
            key: translate(value, lang)
            if key == "reason" and isinstance(value, str)
            else localise(value, lang)
            for key, value in self.params.items()
        }
        return translate(self.message, lang).format(**params)
