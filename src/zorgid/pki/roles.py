"""UZI role codes ``NN.NNN``: beroepstitel (profession) and specialisme (see domain-facts.md).

The tables are plain data. Codes missing from them are still well-formed roles (CIBG adds codes
over time); they simply have no name here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zorgid.pki.errors import UziRoleError

if TYPE_CHECKING:
    from collections.abc import Mapping

#: Profession code of N, M and S cards, whose role is always ``00.000``.
NO_PROFESSION = "00"
#: Specialism code meaning "no specialism".
NO_SPECIALISM = "000"

# [0-9] rather than \d: \d also matches digits of other scripts, which UZI never uses.
_ROLE_CODE = re.compile(r"([0-9]{2})\.([0-9]{3})")

#: Beroepstitel codes (the first two digits of the role) with their Dutch names.
PROFESSIONS: Mapping[str, str] = {
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

#: Specialisms by full role code ``NN.NNN`` (a specialism code means something only within its
#: profession), with their Dutch names.
SPECIALISMS: Mapping[str, str] = {
    "01.004": "Apotheekhoudend huisarts",
    "01.015": "Huisartsgeneeskunde",
    "17.075": "Openbaar apotheker",
}


@dataclass(frozen=True)
class Role:
    """A UZI role code ``NN.NNN`` (beroepstitel.specialisme) with its names."""

    code: str
    profession: str | None
    specialism: str | None


def role_for(code: str) -> Role:
    """The role with code ``NN.NNN`` and its names; raises UziRoleError when malformed."""
    match = _ROLE_CODE.fullmatch(code)
    if match is None:
        raise UziRoleError(f"role {code!r} is not NN.NNN", value=repr(code))
    profession, specialism = match.groups()
    return Role(
        code=code,
        profession=None if profession == NO_PROFESSION else PROFESSIONS.get(profession),
        specialism=None if specialism == NO_SPECIALISM else SPECIALISMS.get(code),
    )
