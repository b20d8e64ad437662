"""Reading certificates, private keys and PKCS#12 bundles from the bytes of a file.

Every failure is a :class:`~zorgid.pki.errors.CertificateFormatError` (or a subclass) naming the
file's ``path``; cryptography's ValueError and TypeError never escape.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, TypeAlias

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from zorgid.pki.errors import CertificateFormatError, Pkcs12PasswordError, PrivateKeyFormatError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

#: The key types zorgid signs with (as the UZI-register issues them: RSA; EC for test tools).
PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_PEM_MARKER = b"-----BEGIN "
_SEQUENCE = 0x30
_LONG_LENGTH = 0x80
#: DER of INTEGER 3, the version every PKCS#12 PFX starts with (RFC 7292 section 4).
_PFX_VERSION = b"\x02\x01\x03"


def load_certificates(
    data: bytes, *, path: str, password: bytes | None = None
) -> list[x509.Certificate]:
    """The certificates in a PEM (one or more), DER or PKCS#12 file, leaf first for PKCS#12."""
    try:
        certificates = _load_certificates(data, path=path, password=password)
    except x509.InvalidVersion as exc:
        raise CertificateFormatError(f"version: {exc}", path=path) from exc
    for certificate in certificates:
        # cryptography parses names only when asked: ask now, so that a malformed certificate
        # is refused as unreadable here rather than wherever it is first read.
        try:
            _ = certificate.subject, certificate.issuer
        except (ValueError, TypeError) as exc:
            raise CertificateFormatError(f"malformed name: {exc}", path=path) from exc
    return certificates


def _load_certificates(data: bytes, *, path: str, password: bytes | None) -> list[x509.Certificate]:
    if not data:
        raise CertificateFormatError("empty file", path=path)
    if _PEM_MARKER in data:
        try:
            return x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise CertificateFormatError(f"PEM: {exc}", path=path) from exc
    with contextlib.suppress(ValueError):
        return [x509.load_der_x509_certificate(data)]
    bundle = _open_pkcs12(data, path=path, password=password)
    leaf = [bundle.cert.certificate] if bundle.cert is not None else []
    certificates = leaf + [extra.certificate for extra in bundle.additional_certs]
    if not certificates:
        raise CertificateFormatError("PKCS#12 file without certificates", path=path)
    return certificates


def load_private_key(data: bytes, *, path: str, password: bytes | None) -> PrivateKey:
    """The RSA or EC private key in a PEM or DER file, decrypted with ``password`` if given."""
    is_pem = _PEM_MARKER in data
    try:
        if is_pem:
            key = serialization.load_pem_private_key(data, password)
        else:
            key = serialization.load_der_private_key(data, password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # cryptography reports a missing password, or one given for a plain key, as TypeError.
        raise PrivateKeyFormatError(f"{'PEM' if is_pem else 'DER'}: {exc}", path=path) from exc
    return _supported_key(key, path=path)


def load_pkcs12(
    data: bytes, *, path: str, password: bytes | None
) -> tuple[PrivateKey, x509.Certificate, list[x509.Certificate]]:
    """The private key, its certificate and the other certificates of a PKCS#12 file."""
    bundle = _open_pkcs12(data, path=path, password=password)
    # The key first: without one, cryptography also reports no certificate (none matches it).
    if bundle.key is None:
        raise PrivateKeyFormatError("PKCS#12 file without a private key", path=path)
    if bundle.cert is None:
        raise CertificateFormatError("PKCS#12 file without a certificate for its key", path=path)
    key = _supported_key(bundle.key, path=path)
    return key, bundle.cert.certificate, [extra.certificate for extra in bundle.additional_certs]


def _open_pkcs12(
    data: bytes, *, path: str, password: bytes | None
) -> pkcs12.PKCS12KeyAndCertificates:
    try:
        return pkcs12.load_pkcs12(data, password)
    except ValueError as exc:
        # cryptography gives one ValueError for a wrong password and for bytes that are no
        # PKCS#12 at all; only the structure tells which advice helps the person.
        if _looks_like_pkcs12(data):
            raise Pkcs12PasswordError(str(exc), path=path) from exc
        raise CertificateFormatError(str(exc), path=path) from exc
    except UnsupportedAlgorithm as exc:
        raise CertificateFormatError(f"PKCS#12: {exc}", path=path) from exc


def _looks_like_pkcs12(data: bytes) -> bool:
    # PFX ::= SEQUENCE { version INTEGER {v3(3)}, authSafe ContentInfo, macData OPTIONAL }.
    # Only the start is read, in BER: some exporters write indefinite lengths (0x80).
    if len(data) < 2 or data[0] != _SEQUENCE:  # noqa: PLR2004 - a tag and a length octet
        return False
    first = data[1]
    header = 2 + (first & ~_LONG_LENGTH if first > _LONG_LENGTH else 0)
    return data[header : header + len(_PFX_VERSION)] == _PFX_VERSION


def _supported_key(key: PrivateKeyTypes, *, path: str) -> PrivateKey:
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return key
    raise PrivateKeyFormatError(f"unsupported key type {type(key).__name__}", path=path)
