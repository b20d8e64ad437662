"""The PIN rules of protocol.md, checked before anything is sent."""

from __future__ import annotations

import pytest

from zorgid.mobileapp.errors import PinFormatError
from zorgid.mobileapp.pin import check_new_pin, check_pin_format


@pytest.mark.parametrize("pin", ["13579", "00001", "12346", "90123", "24680", "10000"])
def test_ordinary_pins_may_be_chosen(pin: str) -> None:
    assert check_new_pin(pin) == pin


@pytest.mark.parametrize(
    "pin",
    [
        "11111",
        "00000",
        "12345",
        "01234",
        "56789",
        "54321",
        "98765",
        "43210",
        "1234",
        "123456",
        "",
        "1234a",
        " 1357",
        "١٣٥٧٩",  # Arabic-Indic digits: str.isdigit says yes, the protocol says no
        "13579\n",
    ],
)
def test_weak_or_malformed_pins_are_refused_locally(pin: str) -> None:
    with pytest.raises(PinFormatError) as caught:
        check_new_pin(pin)
    assert caught.value.code == "pin_format"


def test_exactly_the_ten_repeated_and_twelve_straight_pins_are_refused() -> None:
    refused = []
    for number in range(100_000):
        pin = f"{number:05d}"
        try:
            check_new_pin(pin)
        except PinFormatError:
            refused.append(pin)
    assert len(refused) == 22


def test_a_login_pin_is_only_checked_for_its_form() -> None:
    # The service decides whether an old, weaker PIN is right; the app only refuses typos.
    assert check_pin_format("12345") == "12345"
    with pytest.raises(PinFormatError):
        check_pin_format("1234")
