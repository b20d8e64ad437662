# ruff: noqa: RUF001 - the disguises are the point: look-alike characters in hostile names
"""Names on the public forms: web and e-mail addresses are found, ordinary names pass."""

from __future__ import annotations

import pytest

from zorgid.core.linktext import Link, find_link

#: Names of care organisations and people as they are really written: none holds a link.
LEGITIMATE = [
    "Huisartsenpraktijk 't Hoekje B.V.",
    "Zorggroep St. Jansdal",
    "Zorggroep St.Jansdal",
    "Apotheek De Vries B.V. Amsterdam",
    "Huisartsenpraktijk De Linde BV",
    "Stichting Zorg & Welzijn",
    "Tandartsenpraktijk Van der Berg & Zn.",
    "Fysiotherapie 2000",
    "Gezondheidscentrum Noord-Oost",
    "Huisartsen Noord/Zuid",
    "Zorg@Home",
    "Zorg@Home B.V.",
    "Maison Médicale Érasme",
    "Huisartspraktijk Dokter Ö. Yılmaz",
    "Medisch Centrum Leeuwarden (MCL)",
    "Zorgcentrum De Hoge Weide (locatie 2)",
    "Verpleeghuis St.-Jozef",
    "Praktijk v.d. Berg v.o.f.",
    "Maatschap Huisartsen Dr. A.B. Jansen",
    "Stichting Zorgdata: regio Noord",
    "GGZ inGeest",
    "Amsterdam UMC",
    "Apotheek 24/7",
    "Huisartsenpost 0900-1234",
    "Zorggroep Almere B.V. / locatie Haven",
    "Jan Jansen",
    "A.B. de Vries-van Dam",
    "J. O'Brien",
    "Anne-Marie d'Hondt",
    "Petra Anna de Vries",
    "Zorgpunt Oost",
    "Het Kruispunt",
    "Huisartsen Dot Zorg",
]

HOSTILE = [
    ("Uw account is geblokkeerd: bel 0900-1234 of ga naar https://evil.example/login", Link.WEB),
    ("ga naar http://evil.example", Link.WEB),
    ("HTTPS://EVIL.EXAMPLE", Link.WEB),
    ("hxxps://evil.example", Link.WEB),
    ("h t t p s : / / evil . example", Link.WEB),
    ("https:evil.example", Link.WEB),
    ("//evil.example/phish", Link.WEB),
    ("www.evil.example", Link.WEB),
    ("WWW. evil", Link.WEB),
    ("evil.example/login", Link.WEB),
    ("evil.example", Link.WEB),
    ("inloggen op zorg-id.nl", Link.WEB),
    ("bank.com", Link.WEB),
    ("Praktijk mijnpraktijk.amsterdam", Link.WEB),
    ("evil[.]nl", Link.WEB),
    ("evil(.)nl/login", Link.WEB),
    ("evil (dot) com", Link.WEB),
    ("evil dot com", Link.WEB),
    ("evil punt nl", Link.WEB),
    ("evil{.}example", Link.WEB),
    ("evil。nl", Link.WEB),
    ("evil．ｎｌ", Link.WEB),
    ("ｈｔｔｐｓ：／／evil", Link.WEB),
    ("evil\u200b.nl", Link.WEB),
    ("evil.nl:8080", Link.WEB),
    ("ga naar 192.168.1.10", Link.WEB),
    ("bel 0900 of xn--80ak6aa92e.com", Link.WEB),
    ("mailto:x", Link.WEB),
    ("mail naar help@evil.example", Link.EMAIL),
    ("help@evil.nl", Link.EMAIL),
    ("help [at] evil.nl", Link.EMAIL),
    ("help(at)evil.nl", Link.EMAIL),
    ("help (apenstaartje) evil.nl", Link.EMAIL),
    ("help＠evil.nl", Link.EMAIL),
]


@pytest.mark.parametrize("name", LEGITIMATE)
def test_ordinary_names_pass(name: str) -> None:
    assert find_link(name) is None


@pytest.mark.parametrize(("text", "link"), HOSTILE)
def test_web_and_email_addresses_are_found_also_disguised(text: str, link: Link) -> None:
    assert find_link(text) is link
