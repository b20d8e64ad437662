"""The PIN rules of protocol.md "PIN", checked in the app before anything is sent."""

from __future__ import annotations

import itertools
import re

from zorgid.core.i18n import N_
from zorgid.mobileapp.errors import PinFormatError

PIN_LENGTH = 5
_DIGITS = re.compile(rf"[0-9]{{{PIN_LENGTH}}}")


def check_pin_format(pin: str) -> str:
    """``pin`` if it is five ASCII digits, else :class:`PinFormatError` (used when logging in)."""
    if not _DIGITS.fullmatch(pin):
        raise PinFormatError("not five digits", reason=N_("a PIN is exactly five digits"))
    return pin


def check_new_pin(pin: str) -> str:
    """``pin`` if it may be chosen: five digits, not all the same, not a straight run."""
    check_pin_format(pin)
    if len(set(pin)) == 1:
        raise PinFormatError("all the same", reason=N_("all five digits are the same"))
    steps = {int(b) - int(a) for a, b in itertools.pairwise(pin)}
    if steps in ({1}, {-1}):
        raise PinFormatError("straight run", reason=N_("the digits form a run such as 12345"))
    return pin
