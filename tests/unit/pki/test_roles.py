from __future__ import annotations

import pytest

from zorgid.pki.errors import UziFormatError
from zorgid.pki.roles import PROFESSIONS, SPECIALISMS, Role, role_for


def arabic_indic(text: str) -> str:
    # Digits of another script: str.isdigit() accepts them, the UZI profile does not.
    return text.translate({ord("0") + digit: 0x0660 + digit for digit in range(10)})


def fullwidth(text: str) -> str:
    return text.translate({ord("0") + digit: 0xFF10 + digit for digit in range(10)})


# The beroepstitel codes listed in domain-facts.md, with the names a person expects.
EXPECTED_PROFESSIONS = {
    "01": "Arts",
    "02": "Tandarts",
    "03": "Verloskundige",
    "04": "Fysiotherapeut",
    "16": "Psychotherapeut",
    "17": "Apotheker",
    "25": "GZ-psycholoog",
    "30": "Verpleegkundige",
    "31": "Orthopedagoog-generalist",
    "79": "Register-mondhygiënist",
    "80": "Bachelor medische hulpverlening",
    "81": "Physician assistant",
    "82": "Klinisch technoloog",
    "83": "Apothekersassistent",
    "84": "Klinisch fysicus",
    "85": "Tandprotheticus",
    "86": "VIG-er",
    "87": "Optometrist",
    "88": "Huidtherapeut",
    "89": "Diëtist",
    "90": "Ergotherapeut",
    "91": "Logopedist",
    "92": "Mondhygiënist",
    "93": "Oefentherapeut Mensendieck",
    "94": "Oefentherapeut Cesar",
    "95": "Orthoptist",
    "96": "Podotherapeut",
    "97": "Radiodiagnostisch laborant",
    "98": "Radiotherapeutisch laborant",
    "99": "Zorgverlener andere zorg",
}


def test_the_profession_table_holds_every_listed_code_and_no_other() -> None:
    assert dict(PROFESSIONS) == EXPECTED_PROFESSIONS


@pytest.mark.parametrize(("profession", "name"), sorted(EXPECTED_PROFESSIONS.items()))
def test_a_role_without_specialism_is_named_by_its_profession(profession: str, name: str) -> None:
    assert role_for(f"{profession}.000") == Role(f"{profession}.000", name, None)


@pytest.mark.parametrize(
    ("code", "profession", "specialism"),
    [
        ("01.015", "Arts", "Huisartsgeneeskunde"),
        ("01.004", "Arts", "Apotheekhoudend huisarts"),
        ("17.075", "Apotheker", "Openbaar apotheker"),
    ],
)
def test_a_listed_specialism_is_named(code: str, profession: str, specialism: str) -> None:
    assert role_for(code) == Role(code, profession, specialism)


def test_every_specialism_belongs_to_a_known_profession() -> None:
    assert all(code[:2] in PROFESSIONS for code in SPECIALISMS)


def test_role_00_000_of_n_m_and_s_cards_has_neither_profession_nor_specialism() -> None:
    assert role_for("00.000") == Role("00.000", None, None)


def test_a_specialism_code_is_only_named_within_its_own_profession() -> None:
    # 015 is huisartsgeneeskunde under 01 (arts), not under 02 (tandarts).
    assert role_for("02.015") == Role("02.015", "Tandarts", None)


def test_a_well_formed_code_missing_from_the_tables_is_a_role_without_names() -> None:
    assert role_for("42.123") == Role("42.123", None, None)


@pytest.mark.parametrize(
    "code",
    [
        "",
        "01",
        "01.",
        ".015",
        "01015",
        "01-015",
        "1.015",
        "001.015",
        "01.15",
        "01.0150",
        "0a.015",
        "01.01x",
        " 01.015",
        "01.015\n",
        arabic_indic("01.015"),
        fullwidth("0") + "1.015",
        "01.015.000",
    ],
)
def test_a_malformed_code_is_refused(code: str) -> None:
    with pytest.raises(UziFormatError) as caught:
        role_for(code)
    assert caught.value.code == "uzi_role_invalid"
    assert repr(code) in caught.value.public_message("en")
