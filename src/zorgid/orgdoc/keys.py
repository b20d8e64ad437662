"""Signing keys: the one interface the signer needs, whatever holds the key.

A key may be in a PKCS#12 file, in PEM files, or on a token (smartcard, HSM) reached through
PKCS#11 (``zorgid.orgdoc.pkcs11``). The XML signature code only sees :class:`Signer`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from zorgid.core.i18n import N_
from zorgid.orgdoc.errors import SigningError, SigningKeyMismatchError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

DSIG_MORE = "http://www.w3.org/2001/04/xmldsig-more#"


_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class SignatureAlgorithm(enum.Enum):
    """The SignatureMethod algorithms of the profile (formats.md), with their hash."""

    RSA_SHA256 = (f"{DSIG_MORE}rsa-sha256", "sha256", "rsa")
    RSA_SHA384 = (f"{DSIG_MORE}rsa-sha384", "sha384", "rsa")
    RSA_SHA512 = (f"{DSIG_MORE}rsa-sha512", "sha512", "rsa")
    ECDSA_SHA256 = (f"{DSIG_MORE}ecdsa-sha256", "sha256", "ec")
    ECDSA_SHA384 = (f"{DSIG_MORE}ecdsa-sha384", "sha384", "ec")

    @property
    def uri(self) -> str:
        """The algorithm URI written in SignatureMethod."""
        return self.value[0]

    @property
    def key_type(self) -> str:
        """``rsa`` or ``ec``."""
        return self.value[2]

    def hash(self) -> hashes.HashAlgorithm:
        """A fresh hash object of the algorithm's digest."""
        return _HASHES[self.value[1]]()

    @classmethod
    def from_uri(cls, uri: str) -> SignatureAlgorithm | None:
        """The algorithm with this URI, or None when the profile does not allow it."""
        return next((a for a in cls if a.uri == uri), None)


class Signer(Protocol):
    """Something that signs with the private key of :attr:`certificate`."""

    @property
    def certificate(self) -> x509.Certificate:
        """The signer certificate (its public key matches the private key)."""
        ...

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """Intermediate CA certificates to include in KeyInfo, nearest first (may be empty)."""
        ...

    @property
    def algorithm(self) -> SignatureAlgorithm:
        """The SignatureMethod this signer uses."""
        ...

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` and return the XMLDSig SignatureValue bytes (RFC 4051 r||s for ECDSA)."""
        ...


def default_algorithm(certificate: x509.Certificate) -> SignatureAlgorithm:
    """RSA-SHA256 for RSA keys, ECDSA with the curve's matching hash for EC keys."""
    try:
        key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise SigningError(reason=N_("the certificate's key type is not supported")) from None
    if isinstance(key, rsa.RSAPublicKey):
        return SignatureAlgorithm.RSA_SHA256
    if isinstance(key, ec.EllipticCurvePublicKey):
        return (
            SignatureAlgorithm.ECDSA_SHA384
            if key.curve.key_size >= 384  # noqa: PLR2004 - P-384 and up
            else SignatureAlgorithm.ECDSA_SHA256
        )
    raise SigningError(reason=N_("the certificate's key is neither an RSA nor an EC key"))


def ecdsa_raw_signature(der: bytes, key_size: int) -> bytes:
    """Convert a DER ECDSA signature to the fixed-length r||s form XMLDSig uses (RFC 4050)."""
    r, s = decode_dss_signature(der)
    size = (key_size + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


@dataclass(frozen=True)
class SoftwareSigner:
    """A signer whose private key is in memory (from PKCS#12 or PEM files)."""

    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def algorithm(self) -> SignatureAlgorithm:
        """The SignatureMethod matching the key."""
        return default_algorithm(self.certificate)

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` with the in-memory key."""
        algorithm = self.algorithm
        if isinstance(self.key, rsa.RSAPrivateKey):
            return self.key.sign(data, padding.PKCS1v15(), algorithm.hash())
        der = self.key.sign(data, ec.ECDSA(algorithm.hash()))
        return ecdsa_raw_signature(der, self.key.curve.key_size)


def issuer_chain(
    certificate: x509.Certificate, candidates: Sequence[x509.Certificate], *, limit: int = 4
) -> tuple[x509.Certificate, ...]:
    """The CA certificates above ``certificate`` among ``candidates``, nearest first, no root.

    KeyInfo carries the signer's intermediates only: bundles often hold roots, duplicates and
    unrelated CAs, which the receiver neither needs nor accepts beyond a few.
    """
    chain: list[x509.Certificate] = []
    current = certificate
    while len(chain) < limit:
        issuer = next((c for c in candidates if _issued(current, c) and c not in chain), None)
        if issuer is None or issuer.issuer == issuer.subject:
            break
        chain.append(issuer)
        current = issuer
    return tuple(chain)


def _issued(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    if child.issuer != issuer.subject or child == issuer:
        return False
    try:
        child.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def software_signer(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    certificate: x509.Certificate,
    candidates: Sequence[x509.Certificate] = (),
) -> SoftwareSigner:
    """A signer for ``key``, which must belong to ``certificate``, with its issuer chain."""
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    try:
        matches = key.public_key().public_bytes(der, spki) == certificate.public_key().public_bytes(
            der, spki
        )
    except (ValueError, UnsupportedAlgorithm):
        matches = False
    if not matches:
        raise SigningKeyMismatchError(subject=certificate.subject.rfc4514_string())
    return SoftwareSigner(key, certificate, issuer_chain(certificate, candidates))
