"""Device keys (ECDSA P-256) and their signatures over the protocol's signing strings."""

from __future__ import annotations

import binascii
import functools

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from zorgid.core.i18n import N_
from zorgid.core.protocol import b64url_decode
from zorgid.identity.errors import BadRequestError, SignatureInvalidError


def b64decode(value: str, *, field: str) -> bytes:
    """Decode unpadded base64url from a request, refusing anything else."""
    try:
        return b64url_decode(value)
    except (binascii.Error, ValueError):
        raise BadRequestError(
            f"{field} is not base64url", reason=N_("a value is not base64url.")
        ) from None


def load_device_key(spki_der: bytes) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from its SubjectPublicKeyInfo, or a clear refusal."""
    try:
        key = serialization.load_der_public_key(spki_der)
    except (ValueError, TypeError):
        raise BadRequestError(
            "public key unreadable", reason=N_("the public key is not a P-256 key.")
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise BadRequestError(
            "public key not P-256", reason=N_("the public key is not a P-256 key.")
        )
    return key


@functools.lru_cache(maxsize=8192)
def stored_device_key(spki_der: bytes) -> ec.EllipticCurvePublicKey:
    """:func:`load_device_key` for a key the service stored (each login parses it again else).

    The bytes are the key: a device's key never changes, and a revoked device is refused on
    its status before its key is used.
    """
    return load_device_key(spki_der)


def verify_device_signature(
    key: ec.EllipticCurvePublicKey, signature_b64: str, signing_string: str
) -> None:
    """Check an ECDSA-SHA256 DER signature, or raise :class:`SignatureInvalidError`."""
    signature = b64decode(signature_b64, field="signature")
    try:
        key.verify(signature, signing_string.encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise SignatureInvalidError("device signature does not verify") from None
