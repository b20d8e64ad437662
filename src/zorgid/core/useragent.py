"""What the app may say about the browser that asks to log in: a label, never the header itself.

A browser's ``User-Agent`` is whatever the asker wants it to be ("Uw account is geblokkeerd, bel
..."), and the app shows it where the person decides whether the login is theirs. So the
service reads it with ua-parser (its maintained rules come with ua-parser-builtins; see
docs/decisions/0007-browser-label.md) and keeps only names from the fixed lists below: "Chrome on
Windows", "Firefox on an unknown system", or "unknown browser". Nothing of the header itself
reaches the label.
"""

from __future__ import annotations

import functools

from ua_parser import Domain, Resolver
from ua_parser.loaders import load_lazy_builtins
from ua_parser.regex import Resolver as NativeResolver

from zorgid.core.i18n import N_, Message

#: ua-parser's browser families we name, and the name shown (mobile variants are the same
#: browser to the person holding it).
BROWSERS = {
    "Chrome": "Chrome",
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Chrome Mobile WebView": "Chrome",
    "Chromium": "Chromium",
    "Firefox": "Firefox",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Firefox Beta": "Firefox",
    "Firefox Alpha": "Firefox",
    "Firefox Nightly": "Firefox",
    "Safari": "Safari",
    "Mobile Safari": "Safari",
    "Mobile Safari UI/WKWebView": "Safari",
    "Edge": "Edge",
    "Edge Mobile": "Edge",
    "Opera": "Opera",
    "Opera Mobile": "Opera",
    "Samsung Internet": "Samsung Internet",
    "Vivaldi": "Vivaldi",
    "Yandex Browser": "Yandex Browser",
    "DuckDuckGo Mobile": "DuckDuckGo",
    "IE": "Internet Explorer",
}
#: ua-parser's operating-system families we name, and the name shown.
SYSTEMS = {
    "Windows": "Windows",
    "Mac OS X": "macOS",
    "iOS": "iOS",
    "Android": "Android",
    "Linux": "Linux",
    "Ubuntu": "Linux",
    "Debian": "Linux",
    "Fedora": "Linux",
    "openSUSE": "Linux",
    "Red Hat": "Linux",
    "Arch Linux": "Linux",
    "Chrome OS": "ChromeOS",
    "FreeBSD": "FreeBSD",
}
UNKNOWN = N_("unknown browser")
#: The longest header read: longer ones are not a browser's (the service keeps 300 characters).
MAX_LENGTH = 1000


def browser_label(user_agent: str) -> Message:
    """The browser and its system as the app shows them, from the names above only."""
    browser, system = _names(user_agent[:MAX_LENGTH])
    if browser is None:
        return Message(UNKNOWN)
    if system is None:
        return Message(N_("{browser} on an unknown system"), {"browser": browser})
    return Message(N_("{browser} on {system}"), {"browser": browser, "system": system})


#: What is asked of the parser: the browser and the system, never the device.
_DOMAINS = Domain.USER_AGENT | Domain.OS


@functools.cache
def _resolver() -> Resolver:
    """ua-parser's native matcher over the browser and system rules only.

    ua-parser's ready-made parser also compiles the device rules (most of uap-core's), which
    this label never asks for: they held ~15 MB of the server's memory for nothing.
    """
    browsers, systems, _devices = load_lazy_builtins()
    return NativeResolver((browsers, systems, []))


@functools.lru_cache(maxsize=512)
def _names(user_agent: str) -> tuple[str | None, str | None]:
    # This cache keeps the look-ups of our lists too (ua-parser's own cache is not used).
    found = _resolver()(user_agent, _DOMAINS)
    browser = BROWSERS.get(found.user_agent.family) if found.user_agent else None
    system = SYSTEMS.get(found.os.family) if found.os else None
    return browser, system


def prepare() -> None:
    """Build the parser's rules now (a few tenths of a second), not at the first login."""
    _resolver()
