"""Languages: Dutch first, English too, through gettext catalogues in ``zorgid/locales``."""

from __future__ import annotations

import functools
import gettext
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

DOMAIN = "zorgid"
LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
SUPPORTED = ("nl", "en")
DEFAULT = "nl"


def N_(msgid: str) -> str:  # noqa: N802 - the conventional gettext marker name
    """Mark a string for extraction without translating it now."""
    return msgid


@functools.cache
def _catalogue(lang: str) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, LOCALES_DIR, languages=[lang], fallback=True)


def translate(msgid: str, lang: str) -> str:
    """Translate an English msgid into ``lang`` (unknown languages fall back to Dutch)."""
    return _catalogue(lang if lang in SUPPORTED else DEFAULT).gettext(msgid)


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
