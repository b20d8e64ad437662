"""The organisation-document verifier: the gate a false organisation would try to pass.

Order of checks: bytes and parser (document.py), signature profile and cryptography
(signature.py), schema, the signer certificate (pki.trust: path, time, usage, revocation, UZI
card type S), then the binding of document to certificate and request. Data is read only from
the signed canonical bytes. Every failure is a :class:`~zorgid.errors.ZorgidError` with a stable
code; :meth:`DocumentVerifier.report` never raises, whatever the input.
"""

from __future__ import annotations

import hmac
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from zorgid.core.i18n import N_
from zorgid.errors import ZorgidError
from zorgid.orgdoc.document import OrganisationDocument, from_tree
from zorgid.orgdoc.errors import (
    ChallengeExpiredError,
    ChallengeMismatchError,
    ChallengeUnknownError,
    ChallengeUsedError,
    EnvironmentMismatchError,
    NotSignedYetError,
    RequestMismatchError,
    UnexpectedUraError,
    UraMismatchError,
)
from zorgid.orgdoc.signature import SignedContent, signed_content
from zorgid.pki.errors import PkiError
from zorgid.pki.trust import CertificateValidator, Purpose, ValidatedCertificate
from zorgid.pki.uzi import UziCertificate, read_certificate

if TYPE_CHECKING:
    import datetime as dt

    from zorgid.core.clock import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Expectations:
    """What the caller knows the document must say (a request's URA, challenge, number)."""

    ura: str | None = None
    challenge: str | None = None
    request_number: str | None = None


@dataclass(frozen=True)
class VerifiedDocument:
    """A document whose signature, signer and binding all check out."""

    document: OrganisationDocument
    certificate: ValidatedCertificate
    signed_xml: bytes


@dataclass(frozen=True)
class VerificationReport:
    """The outcome for people and machines: valid or the error, and what was learnt before."""

    error: ZorgidError | None
    document: OrganisationDocument | None
    certificate: UziCertificate | None

    @property
    def valid(self) -> bool:
        """True when nothing was wrong."""
        return self.error is None


class InternalVerificationError(ZorgidError):
    """A defect in zorgid met unexpected input: reported, never a traceback."""

    code = "internal_error"
    message = N_(
        "The document could not be checked because of an internal error. Please report it."
    )


class ChallengeRegistry(Protocol):
    """Where issued challenges live; redeeming one is what makes a signed document single-use."""

    def redeem(self, request_number: str, challenge: str, at: dt.datetime) -> None:
        """Mark the challenge used, or raise challenge_unknown / challenge_used / _expired."""
        ...


@dataclass
class _Issued:
    challenge: str
    expires: dt.datetime
    used: bool = False


class MemoryChallenges:
    """A thread-safe in-memory ChallengeRegistry (the tool, tests; the service keeps its own)."""

    def __init__(self) -> None:
        self._issued: dict[str, _Issued] = {}
        self._lock = threading.Lock()

    def issue(self, request_number: str, challenge: str, expires: dt.datetime) -> None:
        """Remember a challenge issued for a request."""
        with self._lock:
            self._issued[request_number] = _Issued(challenge, expires)

    def redeem(self, request_number: str, challenge: str, at: dt.datetime) -> None:
        """Mark the challenge used; exactly one caller can succeed."""
        with self._lock:
            issued = self._issued.get(request_number)
            if issued is None or not hmac.compare_digest(
                issued.challenge.encode(), challenge.encode()
            ):
                raise ChallengeUnknownError(request=request_number)
            if issued.used:
                raise ChallengeUsedError
            if at >= issued.expires:
                raise ChallengeExpiredError(expired_at=issued.expires.isoformat())
            issued.used = True


class DocumentVerifier:
    """Verifies signed organisation documents against a configured trust store."""

    def __init__(
        self,
        *,
        validator: CertificateValidator,
        clock: Clock,
        challenges: ChallengeRegistry | None = None,
    ) -> None:
        self._validator = validator
        self._clock = clock
        self._challenges = challenges

    def verify(
        self, data: bytes, *, expect: Expectations | None = None, at: dt.datetime | None = None
    ) -> VerifiedDocument:
        """Verify ``data`` completely or raise the specific error."""
        moment = at or self._clock.now()
        signed = signed_content(data)
        document, validated = self._trusted(signed, moment)
        self._bind(document, validated, expect or Expectations(), moment)
        return VerifiedDocument(document, validated, signed.canonical)

    def report(
        self, data: bytes, *, expect: Expectations | None = None, at: dt.datetime | None = None
    ) -> VerificationReport:
        """Like :meth:`verify`, but return the outcome and what was learnt before a failure.

        The organisation's data is reported only once its signer is trusted; before that it is
        only what someone wrote.
        """
        trusted: OrganisationDocument | None = None
        certificate: UziCertificate | None = None
        moment = at or self._clock.now()
        try:
            signed = signed_content(data)
            try:
                certificate = read_certificate(signed.certificate, self._validator.config.profiles)
            except (PkiError, ValueError, TypeError):
                certificate = None  # reported by the validator below, with its own code
            trusted, validated = self._trusted(signed, moment)
            self._bind(trusted, validated, expect or Expectations(), moment)
        except ZorgidError as error:
            return VerificationReport(error, trusted, certificate)
        except Exception as exc:
            log.exception("verifier defect")
            return VerificationReport(InternalVerificationError(repr(exc)), trusted, certificate)
        return VerificationReport(None, trusted, validated.uzi)

    def _trusted(
        self, signed: SignedContent, at: dt.datetime
    ) -> tuple[OrganisationDocument, ValidatedCertificate]:
        document = from_tree(signed.root)
        if document.ondertekend is None:
            raise NotSignedYetError
        validated = self._validator.validate(
            signed.certificate,
            extra_intermediates=signed.intermediates,
            at=at,
            purpose=Purpose.ORGANISATION_SIGNATURE,
        )
        return document, validated

    def _bind(
        self,
        document: OrganisationDocument,
        validated: ValidatedCertificate,
        expect: Expectations,
        at: dt.datetime,
    ) -> None:
        check_binding(document, validated.uzi, expect)
        if self._challenges is not None:
            # Last, so that only a document that passed every other check uses up its challenge.
            self._challenges.redeem(document.aanvraagnummer, document.uitdaging, at)


def check_binding(
    document: OrganisationDocument, certificate: UziCertificate, expect: Expectations
) -> None:
    """The document must be the certificate's organisation's, and the caller's request's."""
    certificate_ura = certificate.uzi.ura if certificate.uzi else ""
    if document.ura != certificate_ura:
        raise UraMismatchError(document_ura=document.ura, certificate_ura=certificate_ura)
    # A test certificate must never admit an organisation to production. (The acceptance
    # environment takes both: vendors test there with test and real certificates.)
    environment = certificate.uzi.environment if certificate.uzi else ""
    if document.get("Aanvraag/Omgeving") == "productie" and environment != "production":
        raise EnvironmentMismatchError(environment)
    if expect.ura is not None and document.ura != expect.ura:
        raise UnexpectedUraError(document_ura=document.ura, expected_ura=expect.ura)
    if expect.request_number is not None and document.aanvraagnummer != expect.request_number:
        raise RequestMismatchError(
            document_request=document.aanvraagnummer, expected_request=expect.request_number
        )
    if expect.challenge is not None and not hmac.compare_digest(
        document.uitdaging.encode(), expect.challenge.encode()
    ):
        raise ChallengeMismatchError
