"""Whether a UZI certificate may be trusted for a purpose at a moment.

:class:`CertificateValidator` runs its checks in a fixed order, each failing with its own stable
code (pki/errors.py), around cryptography's RFC 5280 path builder, which reports every failure as
one ``VerificationError`` and knows nothing of revocation:

1. key strength (``certificate_weak_key``)
2. the certificate's validity window (``certificate_expired``, ``certificate_not_yet_valid``)
3. UZI identification (``certificate_not_uzi``, ``uzi_*``)
4. card type for the purpose (``certificate_not_server``, ``certificate_card_type``)
5. key usage for the purpose (``certificate_key_usage``)
6. a path to a configured trust anchor (``certificate_untrusted``, ``certificate_ca_expired``)
7. revocation of every certificate below the anchor (``certificate_revoked``,
   ``certificate_revocation_unknown``)

Trust comes only from the configured anchors (the pinned CIBG UZI intermediates, or the test
PKI), never from certificates that arrive with a document: those may only fill in the path.
"""

from __future__ import annotations

import datetime as dt
import enum
import itertools
import threading
from collections import OrderedDict
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.verification import (
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from zorgid.core.i18n import N_, Message
from zorgid.pki.errors import (
    CertificateCaExpiredError,
    CertificateCardTypeError,
    CertificateCardTypeNotAllowedError,
    CertificateExpiredError,
    CertificateMalformedError,
    CertificateNotUziError,
    CertificateNotYetValidError,
    CertificateRevokedError,
    CertificateUntrustedError,
    CertificateUsageError,
    CertificateWeakKeyError,
)
from zorgid.pki.revocation import readable_moment
from zorgid.pki.uzi import DEFAULT_PROFILES, CardType, read_certificate

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from zorgid.pki.revocation import RevocationChecker, RevocationStatus
    from zorgid.pki.uzi import OidProfile, UziCertificate, UziIdentity

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "PURPOSE_RULES",
    "CertificateValidator",
    "Purpose",
    "PurposeRule",
    "TrustConfig",
    "ValidatedCertificate",
    "check_card_and_time",
]

_MIN_RSA_BITS = 2048
#: NIST curves of at least 256 bits: what the UZI-register and PKIoverheid allow.
_ALLOWED_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})
#: RFC 5280 section 4.2.1.3 names of the key usage bits, and cryptography's attribute names.
_KEY_USAGE_ATTRIBUTES: Mapping[str, str] = MappingProxyType(
    {
        "digitalSignature": "digital_signature",
        "nonRepudiation": "content_commitment",
        "keyEncipherment": "key_encipherment",
        "dataEncipherment": "data_encipherment",
        "keyAgreement": "key_agreement",
    }
)
#: How deep the diagnosis of a failed path looks (cryptography's own default depth).
_MAX_PATH_DEPTH = 8
DEFAULT_CACHE_SIZE = 1024
_EXTENSIONS_UNREADABLE = N_("its extensions cannot be read")
_E = TypeVar("_E", bound=x509.ExtensionType)


@dataclass(frozen=True)
class PurposeRule:
    """What a purpose requires of a certificate: card types, key usage bits, extended usages."""

    #: What the purpose is, an English msgid (N_) shown as "needed for <description>".
    description: str
    card_types: frozenset[CardType]
    #: RFC 5280 names of the key usage bits that must all be set (see _KEY_USAGE_ATTRIBUTES).
    key_usage: frozenset[str]
    extended_key_usage: frozenset[x509.ObjectIdentifier] = frozenset()


class Purpose(enum.Enum):
    """What a validated certificate is going to be used for."""

    #: Signing the organisation document: a UZI server certificate (domain-facts.md).
    ORGANISATION_SIGNATURE = "organisation_signature"
    #: Logging in with the authentication certificate of a UZI-pas.
    PASS_AUTHENTICATION = "pass_authentication"  # noqa: S105 - "pass" is the UZI-pas, no secret

    @property
    def rule(self) -> PurposeRule:
        """The requirements of this purpose."""
        return PURPOSE_RULES[self]


PURPOSE_RULES: Mapping[Purpose, PurposeRule] = MappingProxyType(
    {
        Purpose.ORGANISATION_SIGNATURE: PurposeRule(
            description=N_("signing the organisation document"),
            card_types=frozenset({CardType.SERVER}),
            key_usage=frozenset({"digitalSignature"}),
        ),
        Purpose.PASS_AUTHENTICATION: PurposeRule(
            description=N_("authentication with a UZI-pas"),
            card_types=frozenset(
                {
                    CardType.ZORGVERLENER,
                    CardType.MEDEWERKER_OP_NAAM,
                    CardType.MEDEWERKER_NIET_OP_NAAM,
                }
            ),
            key_usage=frozenset({"digitalSignature"}),
        ),
    }
)


@dataclass(frozen=True, kw_only=True)
class TrustConfig:
    """What to trust: anchors, known intermediates, UZI OID profiles and revocation checking.

    ``revocation`` has no default: not checking revocation (None) must be chosen explicitly.
    """

    anchors: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()
    profiles: tuple[OidProfile, ...] = DEFAULT_PROFILES
    revocation: RevocationChecker | None

    def __post_init__(self) -> None:
        if not self.anchors:
            msg = "a TrustConfig needs at least one trust anchor"
            raise ValueError(msg)


@dataclass(frozen=True)
class ValidatedCertificate:
    """A certificate found trustworthy for a purpose, and until when that finding holds."""

    certificate: x509.Certificate
    #: The certificate, its CAs, and the trust anchor last.
    chain: tuple[x509.Certificate, ...]
    uzi: UziCertificate
    identity: UziIdentity
    purpose: Purpose
    revocation_checked: bool
    #: The earliest moment this result stops holding: the first notAfter along the chain, the
    #: first nextUpdate of the revocation data used, or just before a later revocation.
    valid_until: dt.datetime
    revocation: tuple[RevocationStatus, ...] = ()


@dataclass(frozen=True)
class _CacheEntry:
    result: ValidatedCertificate
    valid_from: dt.datetime
    generation: int


# Certificates compare and hash by their DER encoding, so they serve as their own keys.
_CacheKey = tuple[x509.Certificate, tuple[x509.Certificate, ...], Purpose]


class _ResultCache:
    """A bounded LRU of successful validations (thread-safe)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[_CacheKey, _CacheEntry] = OrderedDict()

    def get(self, key: _CacheKey, at: dt.datetime, generation: int) -> ValidatedCertificate | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            # Reuse only inside the window the result was computed for, and only while the
            # revocation data are the ones it was computed with.
            if (
                entry.generation != generation
                or not entry.valid_from <= at <= entry.result.valid_until
            ):
                return None
            self._entries.move_to_end(key)
            return entry.result

    def put(self, key: _CacheKey, entry: _CacheEntry) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


def _sha256(certificate: x509.Certificate) -> bytes:
    return certificate.fingerprint(hashes.SHA256())


def _subject(certificate: x509.Certificate) -> str:
    return certificate.subject.rfc4514_string()


class CertificateValidator:
    """Validates certificates against one TrustConfig; build once, share between threads."""

    def __init__(self, config: TrustConfig, *, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self._config = config
        self._store = Store(list(config.anchors))
        self._anchors = frozenset(_sha256(anchor) for anchor in config.anchors)
        self._ca_policy = ExtensionPolicy.webpki_defaults_ca()
        # The end-entity profile is checked by this module (usage, card type), not by WebPKI's
        # server/client rules, which would demand a subjectAltName DNS name or IP address.
        self._ee_policy = ExtensionPolicy.permit_all()
        self._cache = _ResultCache(cache_size)

    @property
    def config(self) -> TrustConfig:
        """The configuration this validator was built from."""
        return self._config

    def validate(
        self,
        leaf: x509.Certificate,
        *,
        extra_intermediates: Sequence[x509.Certificate] = (),
        at: dt.datetime,
        purpose: Purpose,
    ) -> ValidatedCertificate:
        """Validate ``leaf`` for ``purpose`` at ``at``; raises a PkiError subclass."""
        if at.tzinfo is None:
            msg = "the validation moment must be timezone-aware"
            raise ValueError(msg)
        at = at.astimezone(dt.UTC)
        extras = tuple(extra_intermediates)
        key: _CacheKey = (leaf, extras, purpose)
        # Read before validating: should the CRLs change meanwhile, the entry is already stale.
        generation = self._generation()
        cached = self._cache.get(key, at, generation)
        if cached is not None:
            return cached
        result, valid_from = self._validate(leaf, extras, at, purpose)
        self._cache.put(key, _CacheEntry(result, valid_from, generation))
        return result

    def _generation(self) -> int:
        revocation = self._config.revocation
        return 0 if revocation is None else revocation.generation

    def _validate(
        self,
        leaf: x509.Certificate,
        extras: tuple[x509.Certificate, ...],
        at: dt.datetime,
        purpose: Purpose,
    ) -> tuple[ValidatedCertificate, dt.datetime]:
        _check_key(leaf)
        _check_validity(leaf, at)
        uzi = self._read_uzi(leaf)
        identity = _check_profile(leaf, uzi, purpose)
        chain = self._path(leaf, extras, at)
        statuses = self._revocation(chain, at)
        valid_until = min(
            [c.not_valid_after_utc for c in chain] + [s.holds_until for s in statuses]
        )
        valid_from = max(
            [c.not_valid_before_utc for c in chain] + [s.this_update for s in statuses]
        )
        result = ValidatedCertificate(
            certificate=leaf,
            chain=chain,
            uzi=uzi,
            identity=identity,
            purpose=purpose,
            revocation_checked=self._config.revocation is not None,
            valid_until=valid_until,
            revocation=statuses,
        )
        return result, valid_from

    def _read_uzi(self, leaf: x509.Certificate) -> UziCertificate:
        try:
            return read_certificate(leaf, self._config.profiles)
        except (ValueError, TypeError) as exc:
            # cryptography decodes names and extensions lazily and reports bad DER as ValueError
            # (or TypeError for an attribute of the wrong type).
            raise CertificateMalformedError(str(exc), reason=_EXTENSIONS_UNREADABLE) from exc

    def _path(
        self, leaf: x509.Certificate, extras: tuple[x509.Certificate, ...], at: dt.datetime
    ) -> tuple[x509.Certificate, ...]:
        verifier = (
            PolicyBuilder()
            .store(self._store)
            .time(at)
            .extension_policies(ca_policy=self._ca_policy, ee_policy=self._ee_policy)
            .build_client_verifier()
        )
        try:
            verified = verifier.verify(leaf, [*self._config.intermediates, *extras])
        except (VerificationError, ValueError) as exc:
            try:
                diagnosis = self._diagnose(leaf, extras, at, str(exc))
            except (ValueError, TypeError):
                # A CA certificate whose names cannot even be read explains itself.
                diagnosis = CertificateUntrustedError(str(exc), issuer="?")
            raise diagnosis from exc
        return tuple(verified.chain)

    def _diagnose(
        self,
        leaf: x509.Certificate,
        extras: tuple[x509.Certificate, ...],
        at: dt.datetime,
        detail: str,
    ) -> CertificateUntrustedError:
        """Tell an expired CA on an otherwise sound path apart from no path at all."""
        pool = (*self._config.anchors, *self._config.intermediates, *extras)
        path = self._find_path(leaf, pool, set(), _MAX_PATH_DEPTH)
        for ca in path or ():
            if not ca.not_valid_before_utc <= at <= ca.not_valid_after_utc:
                return CertificateCaExpiredError(
                    f"{_subject(ca)} not valid at {at.isoformat()}; {detail}",
                    ca=_subject(ca),
                    not_before=readable_moment(ca.not_valid_before_utc),
                    not_after=readable_moment(ca.not_valid_after_utc),
                )
        return CertificateUntrustedError(detail, issuer=leaf.issuer.rfc4514_string())

    def _find_path(
        self,
        child: x509.Certificate,
        pool: tuple[x509.Certificate, ...],
        seen: set[bytes],
        depth: int,
    ) -> tuple[x509.Certificate, ...] | None:
        # Ignores time: only used to explain why cryptography found no path. ``seen`` keeps the
        # search linear when certificates of the same name and key are offered many times.
        if depth == 0:
            return None
        for ca in pool:
            fingerprint = _sha256(ca)
            if fingerprint in seen or ca.subject != child.issuer or not _issued_by(child, ca):
                continue
            seen.add(fingerprint)
            if fingerprint in self._anchors:
                return (ca,)
            rest = self._find_path(ca, pool, seen, depth - 1)
            if rest is not None:
                return (ca, *rest)
        return None

    def _revocation(
        self, chain: tuple[x509.Certificate, ...], at: dt.datetime
    ) -> tuple[RevocationStatus, ...]:
        checker = self._config.revocation
        if checker is None:
            return ()
        statuses: list[RevocationStatus] = []
        # The anchor is trusted by configuration; everything below it must be unrevoked.
        for child, issuer in itertools.pairwise(chain):
            status = checker.check(child, issuer, at)
            if not status.good:
                revoked_at = status.revoked_at or at
                raise CertificateRevokedError(
                    f"{_subject(child)} revoked at {revoked_at.isoformat()} "
                    f"({status.reason}; {status.source})",
                    revoked_at=readable_moment(revoked_at),
                )
            statuses.append(status)
        return tuple(statuses)


def check_card_and_time(
    certificate: x509.Certificate, uzi: UziCertificate, *, at: dt.datetime, purpose: Purpose
) -> None:
    """Check key, validity, card type and usage: all that needs no trust store (before signing)."""
    _check_key(certificate)
    _check_validity(certificate, at)
    _check_profile(certificate, uzi, purpose)


def _check_profile(
    certificate: x509.Certificate, uzi: UziCertificate, purpose: Purpose
) -> UziIdentity:
    identity = uzi.uzi
    if identity is None:
        raise CertificateNotUziError(f"{_subject(certificate)}: no UZI otherName")
    _check_card_type(identity.card_type, purpose)
    _check_usage(certificate, purpose.rule)
    return identity


def _issued_by(child: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _check_key(leaf: x509.Certificate) -> None:
    try:
        key = leaf.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CertificateWeakKeyError(str(exc), reason=N_("the key type is not supported")) from exc
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < _MIN_RSA_BITS:
            raise CertificateWeakKeyError(
                f"RSA {key.key_size}",
                reason=Message(N_("RSA with {bits} bits"), {"bits": key.key_size}),
            )
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _ALLOWED_CURVES:
            raise CertificateWeakKeyError(
                f"EC {key.curve.name}",
                reason=Message(N_("EC on curve {curve}"), {"curve": key.curve.name}),
            )
    else:
        kind = type(key).__name__.removesuffix("PublicKey")
        raise CertificateWeakKeyError(
            kind, reason=Message(N_("{kind} keys are not accepted"), {"kind": kind})
        )


def _check_validity(leaf: x509.Certificate, at: dt.datetime) -> None:
    # RFC 5280 section 4.1.2.5: both ends of the window are inclusive.
    if at < leaf.not_valid_before_utc:
        raise CertificateNotYetValidError(
            f"notBefore {leaf.not_valid_before_utc.isoformat()} > {at.isoformat()}",
            not_before=readable_moment(leaf.not_valid_before_utc),
        )
    if at > leaf.not_valid_after_utc:
        raise CertificateExpiredError(
            f"notAfter {leaf.not_valid_after_utc.isoformat()} < {at.isoformat()}",
            not_after=readable_moment(leaf.not_valid_after_utc),
        )


def _check_card_type(card_type: CardType, purpose: Purpose) -> None:
    allowed = purpose.rule.card_types
    if card_type in allowed:
        return
    detail = f"card type {card_type.value} for {purpose.value}"
    if allowed == {CardType.SERVER}:
        raise CertificateCardTypeError(detail, card_type=card_type.value)
    raise CertificateCardTypeNotAllowedError(
        detail,
        card_type=card_type.value,
        allowed=", ".join(sorted(c.value for c in allowed)),
    )


def _extension(certificate: x509.Certificate, kind: type[_E]) -> _E | None:
    try:
        return certificate.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _check_usage(leaf: x509.Certificate, rule: PurposeRule) -> None:
    try:
        basic = _extension(leaf, x509.BasicConstraints)
        usage = _extension(leaf, x509.KeyUsage)
        extended = _extension(leaf, x509.ExtendedKeyUsage)
    except ValueError as exc:
        raise CertificateMalformedError(str(exc), reason=_EXTENSIONS_UNREADABLE) from exc
    if basic is not None and basic.ca:
        raise CertificateUsageError("basicConstraints cA", reason=N_("it is a CA certificate"))
    # UZI certificates always carry keyUsage; one without it is not one the UZI-register issued,
    # so its absence is not read as "any usage" (RFC 5280 section 4.2.1.3).
    missing = sorted(
        name
        for name in rule.key_usage
        if usage is None or not getattr(usage, _KEY_USAGE_ATTRIBUTES[name])
    )
    if missing:
        raise CertificateUsageError(
            f"keyUsage lacks {missing}",
            reason=Message(
                N_("its key usage does not include {usages}, needed for {purpose}"),
                {"usages": ", ".join(missing), "purpose": Message(rule.description)},
            ),
        )
    present = set(extended) if extended is not None else set()
    lacking = sorted(oid.dotted_string for oid in rule.extended_key_usage - present)
    if lacking:
        raise CertificateUsageError(
            f"extendedKeyUsage lacks {lacking}",
            reason=Message(
                N_("its extended key usage does not include {usages}"),
                {"usages": ", ".join(lacking)},
            ),
        )
