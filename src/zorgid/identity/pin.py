"""PIN rules and PIN material: an HMAC under a key kept outside the database."""

from __future__ import annotations

import hashlib
import hmac
import re

from zorgid.identity.errors import PinFormatError

_FIVE_DIGITS = re.compile(r"[0-9]{5}")
_RUNS = frozenset({"01234", "12345", "23456", "34567", "45678", "56789"})


def check_pin_format(pin: str) -> None:
    """Refuse anything but five digits, all-same digits and straight runs."""
    if not _FIVE_DIGITS.fullmatch(pin) or len(set(pin)) == 1:
        raise PinFormatError
    if pin in _RUNS or pin[::-1] in _RUNS:
        raise PinFormatError


def pin_mac(key: bytes, device_id: str, salt: bytes, pin: str) -> bytes:
    """The stored PIN material: without ``key`` no guess of the PIN can be checked against it."""
    message = b"\0".join((b"zorgid-pin-v1", device_id.encode(), salt, pin.encode()))
    return hmac.new(key, message, hashlib.sha256).digest()


def pin_matches(key: bytes, device_id: str, salt: bytes, pin: str, stored: bytes) -> bool:
    """Whether ``pin`` is the device's PIN (constant-time comparison)."""
    return hmac.compare_digest(pin_mac(key, device_id, salt, pin), stored)
