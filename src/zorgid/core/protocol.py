"""The signing strings of docs/protocol.md, shared by the service and the app.

A signing string is a fixed label (naming the step and its version) and values joined by
line feeds, without a trailing one; the device signs its UTF-8 bytes with ECDSA P-256 and
SHA-256, DER-encoded, then base64url without padding (protocol.md "Conventions"). Both sides
build them here, so that they cannot drift apart.
"""

from __future__ import annotations

import base64
from typing import Literal

Decision = Literal["approve", "decline"]

ACTIVATE = "zorgid-activate-v1"
STATUS = "zorgid-status-v1"
LOGIN_SCAN = "zorgid-login-scan-v1"
LOGIN_ANSWER = "zorgid-login-v1"


def b64url(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(value: str) -> bytes:
    """The bytes of a base64url value without padding."""
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _join(label: str, *values: str) -> str:
    for value in values:
        # Every value is checked against a pattern before it gets here; a newline would let
        # one value pose as two, so it is a defect, never input.
        if "\n" in value or "\r" in value:
            raise ValueError(f"line break in a value of {label}")
    return "\n".join((label, *values))


def activation_string(activation_id: str, nonce: str) -> str:
    """protocol.md "Activation": proof that the app holds the new device key."""
    return _join(ACTIVATE, activation_id, nonce)


def status_string(device_id: str, timestamp: str) -> str:
    """protocol.md "Device status": a fresh, signed request for the ID screen."""
    return _join(STATUS, device_id, timestamp)


def scan_string(login_id: str, nonce: str, device_id: str) -> str:
    """protocol.md "QR login", scan."""
    return _join(LOGIN_SCAN, login_id, nonce, device_id)


def answer_string(login_id: str, challenge: str, decision: Decision) -> str:
    """protocol.md "QR login", answer (a decline signs the empty challenge)."""
    return _join(LOGIN_ANSWER, login_id, challenge if decision == "approve" else "", decision)
