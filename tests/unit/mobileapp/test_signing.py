"""Signing strings exactly as protocol.md writes them, and signatures anyone can verify."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key

from zorgid.core.protocol import (
    activation_string,
    answer_string,
    b64url,
    b64url_decode,
    scan_string,
    status_string,
)
from zorgid.mobileapp.signing import new_device_key, public_key_b64, sign


def test_the_signing_strings_are_the_protocols() -> None:
    assert activation_string("A1", "N1") == "zorgid-activate-v1\nA1\nN1"
    assert (
        status_string("D1", "2026-11-28T12:00:00Z") == "zorgid-status-v1\nD1\n2026-11-28T12:00:00Z"
    )
    assert scan_string("L1", "N1", "D1") == "zorgid-login-scan-v1\nL1\nN1\nD1"
    assert answer_string("L1", "C1", "approve") == "zorgid-login-v1\nL1\nC1\napprove"


@pytest.mark.parametrize("challenge", ["", "C1"], ids=["scanned", "confirmed"])
def test_a_decline_always_signs_the_empty_challenge(challenge: str) -> None:
    assert answer_string("L1", challenge, "decline") == "zorgid-login-v1\nL1\n\ndecline"


def test_a_value_with_a_line_break_cannot_pose_as_two_values() -> None:
    with pytest.raises(ValueError, match="line break"):
        scan_string("L1", "N1\nD2", "D1")
    with pytest.raises(ValueError, match="line break"):
        activation_string("A1\r", "N1")


def test_the_signature_verifies_with_the_sent_public_key() -> None:
    key = new_device_key()
    public = load_der_public_key(b64url_decode(public_key_b64(key)))
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert public.curve.name == "secp256r1"
    message = scan_string("L1", "N1", "D1")
    signature = b64url_decode(sign(key, message))
    decode_dss_signature(signature)  # DER, as cryptography writes it
    public.verify(signature, message.encode(), ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):
        public.verify(signature, status_string("D1", "x").encode(), ec.ECDSA(hashes.SHA256()))


def test_base64url_has_no_padding_and_no_plus_or_slash() -> None:
    encoded = b64url(bytes(range(256)))
    assert "=" not in encoded
    assert "+" not in encoded
    assert "/" not in encoded
    assert b64url_decode(encoded) == bytes(range(256))
