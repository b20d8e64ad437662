"""The app's device key: making it, sending its public half, signing protocol strings.

The signing strings themselves are in :mod:`zorgid.core.protocol`, shared with the service.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from zorgid.core.protocol import b64url


def new_device_key() -> ec.EllipticCurvePrivateKey:
    """A fresh P-256 device key."""
    return ec.generate_private_key(ec.SECP256R1())


def public_key_b64(key: ec.EllipticCurvePrivateKey) -> str:
    """The public half as the protocol sends it: SubjectPublicKeyInfo DER, base64url."""
    return b64url(key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


def sign(key: ec.EllipticCurvePrivateKey, signing_string: str) -> str:
    """ECDSA P-256 / SHA-256 over the UTF-8 signing string, DER, base64url."""
    return b64url(key.sign(signing_string.encode("utf-8"), ec.ECDSA(hashes.SHA256())))
