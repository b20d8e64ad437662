"""Languages: Dutch first, English too, through gettext catalogues in ``zorgid/locales``.

A text a person reads is an English msgid marked with :func:`N_`. When it has parameters it
travels as a :class:`Message` (msgid plus parameters) and is rendered in a language only at the
edge (CLI, web), so that a reason built deep in a core reads Dutch inside a Dutch sentence.
"""

from __future__ import annotations

import functools
import gettext
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

DOMAIN = "zorgid"
LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
SUPPORTED = ("nl", "en")
DEFAULT = "nl"
#: Between the parts of a tuple parameter (several problems in one message).
_PART_SEPARATOR = "; "


def N_(msgid: str) -> str:  # noqa: N802 - the conventional gettext marker name
    """Mark a string for extraction without translating it now."""
    return msgid


@functools.cache
def _catalogue(lang: str) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, LOCALES_DIR, languages=[lang], fallback=True)


def translate(msgid: str, lang: str) -> str:
    """Translate an English msgid into ``lang`` (unknown languages fall back to Dutch)."""
    return _catalogue(lang if lang in SUPPORTED else DEFAULT).gettext(msgid)


@dataclass(frozen=True)
class Message:
    """A text for a person, not yet in a language: an English msgid (``N_``) and its parameters.

    Parameters are data (paths, OIDs, names) shown as they are, except a ``Message``, which is
    rendered in the same language, and a tuple, whose parts are rendered and joined with "; ".
    ``str()`` gives the English text, for logs and tests.
    """

    msgid: str
    params: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A read-only copy: a message may be shared (a cached verdict) and must not change.
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def render(self, lang: str) -> str:
        """The text in ``lang`` (unknown languages: Dutch), with its parameters filled in."""
        params = {key: localise(value, lang) for key, value in self.params.items()}
        return translate(self.msgid, lang).format(**params)

    def __str__(self) -> str:
        return self.render("en")


def localise(value: object, lang: str) -> object:
    """``value`` as a person reads it in ``lang``: Messages rendered, tuples joined, data as is."""
    if isinstance(value, Message):
        return value.render(lang)
    if isinstance(value, tuple):
        return _PART_SEPARATOR.join(str(localise(part, lang)) for part in value)
    return value


def resolve_language(explicit: str | None, environ: Mapping[str, str]) -> str:
    """Pick the language: an explicit choice, else the locale when it is English, else Dutch."""
    if explicit:
        return explicit if explicit in SUPPORTED else DEFAULT
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(var, "")
        if value:
            prefix = value.split(":")[0][:2].lower()
            return prefix if prefix in SUPPORTED else DEFAULT
    return DEFAULT
