"""Whether a free text (a name typed on a public form) holds a web address or an e-mail address.

Names on the public forms end up in e-mails the service sends from its own address, so a name
must not be able to carry a link or an address to write to ("Uw account is geblokkeerd: ga naar
evil.example/login"). This module finds them, including the obvious disguises, and lets
ordinary Dutch organisation and person names through ("Huisartsenpraktijk 't Hoekje B.V.",
"Zorggroep St. Jansdal", "Zorg@Home", "Noord/Zuid"). What counts as a domain name is decided by
the Public Suffix List (``publicsuffixlist``, ICANN section), so that "St.Jansdal" (no such
top-level domain) passes and "zorg.nl" does not. The rules, in order:

- the text is normalised first: NFKC (full-width dots, slashes and ats become ``./@``), lower
  case, invisible characters removed, other full stops (ideographic, one-dot leader, small
  full stop) become ``.``, and spelled or
  bracketed dots and ats (``[.]``, ``(dot)``, `` punt ``, ``[at]``, ``(apenstaartje)``) become
  ``.`` and ``@``;
- a scheme (``http:``, ``hxxps:``, ``ftp:``), ``//`` or ``www.`` anywhere, also with spaces
  between the letters (``h t t p s : / /``), is a web address;
- a dotted word followed by ``/`` (a path), or four dotted numbers (an IP address), is one;
- a dotted word whose last part is a top-level domain (``zorg.nl``, ``evil.example``) is one;
- ``name@domain.tld`` is an e-mail address.
"""

from __future__ import annotations

import enum
import functools
import re
import unicodedata

from publicsuffixlist import PublicSuffixList


class Link(enum.StrEnum):
    """What a text holds that it should not."""

    WEB = "web"
    EMAIL = "email"


#: Reserved names (RFC 2606, RFC 6761 and common private ones) that are not in the ICANN list.
_RESERVED = frozenset({"example", "test", "invalid", "localhost", "local", "onion", "internal"})
#: Top-level domains that are also ordinary words in Dutch organisation names (B.V. as "BV").
_NOT_DOMAINS = frozenset({"bv"})
_INVISIBLE = re.compile(
    r"[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f"
    r"\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]"
)
_OTHER_DOTS = str.maketrans({"\u3002": ".", "\uff61": ".", "\u2024": ".", "\ufe52": "."})
_SPELLED_DOT = re.compile(
    r"\s*[\[({<]\s*(?:\.|dot|punt)\s*[\])}>]\s*|\s+(?:dot|punt)\s+", re.IGNORECASE
)
_SPELLED_AT = re.compile(r"\s*[\[({<]\s*(?:at|@|apenstaartje)\s*[\])}>]\s*", re.IGNORECASE)
_SCHEME = re.compile(r"h[tx]{2}ps?[:;]|ftps?[:;]/|//|\\\\|www\d{0,3}\.")
_MAILTO = re.compile(r"\bmailto\s*:")
_DOTTED = re.compile(
    r"(?<![\w-])(?:[^\W_](?:[\w-]*[^\W_])?\.)+([^\W\d_][\w-]*[^\W_]|xn--[a-z0-9-]+)(?![\w-])"
)
_PATH = re.compile(r"[^\W_][\w-]*(?:\.[\w-]+)*\.[^\W\d_][\w-]*[^\W_]\s*(?:/|:\s*\d)")
_IP = re.compile(r"(?<![\d.])\d{1,3}(?:\s*\.\s*\d{1,3}){3}(?![\d.])")
_EMAIL = re.compile(r"[^\s@<>()\[\]]+@[^\W_][\w-]*(?:\.[\w-]+)*\.[^\W\d_]{2,}")


@functools.cache
def _suffixes() -> PublicSuffixList:
    # The list ships with the package (no network); built once, on first use.
    return PublicSuffixList(only_icann=True, accept_unknown=False)


def _normalised(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_OTHER_DOTS)
    text = _INVISIBLE.sub("", text).lower()
    text = _SPELLED_AT.sub("@", text)
    return _SPELLED_DOT.sub(".", text)


def _is_domain(label: str) -> bool:
    if label in _NOT_DOMAINS:
        return False
    if label in _RESERVED:
        return True
    try:
        ascii_label = label.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return _suffixes().is_public(ascii_label)


def find_link(text: str) -> Link | None:
    """What ``text`` holds of a web or e-mail address, or None when it holds neither."""
    plain = _normalised(text)
    if _EMAIL.search(plain):
        return Link.EMAIL
    compact = re.sub(r"\s+", "", plain)
    if _SCHEME.search(compact) or _MAILTO.search(plain) or _PATH.search(plain) or _IP.search(plain):
        return Link.WEB
    if any(_is_domain(found.group(1)) for found in _DOTTED.finditer(plain)):
        return Link.WEB
    return None
