"""The browser label the app shows: a parsed name from a fixed list, never the header itself."""

from __future__ import annotations

import unicodedata

import pytest

from zorgid.core.useragent import BROWSERS, SYSTEMS, browser_label

#: Real User-Agent headers of current browsers, and the label each must get.
REAL = [
    (
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36"
        ),
        "Chrome on Windows",
        "Chrome op Windows",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Firefox on Windows",
        "Firefox op Windows",
    ),
    (
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
        ),
        "Edge on Windows",
        "Edge op Windows",
    ),
    (
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) "
            "Version/18.1 Safari/605.1.15"
        ),
        "Safari on macOS",
        "Safari op macOS",
    ),
    (
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
            "(KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36"
        ),
        "Chrome on macOS",
        "Chrome op macOS",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Firefox on macOS",
        "Firefox op macOS",
    ),
    (
        (
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Mobile Safari/537.36"
        ),
        "Chrome on Android",
        "Chrome op Android",
    ),
    (
        "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
        "Firefox on Android",
        "Firefox op Android",
    ),
    (
        (
            "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
            "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36"
        ),
        "Samsung Internet on Android",
        "Samsung Internet op Android",
    ),
    (
        (
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Mobile Safari/537.36 EdgA/131.0.0.0"
        ),
        "Edge on Android",
        "Edge op Android",
    ),
    (
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
        ),
        "Safari on iOS",
        "Safari op iOS",
    ),
    (
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1"
        ),
        "Chrome on iOS",
        "Chrome op iOS",
    ),
    (
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) FxiOS/133.0 Mobile/15E148 Safari/605.1.15"
        ),
        "Firefox on iOS",
        "Firefox op iOS",
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Firefox on Linux",
        "Firefox op Linux",
    ),
    (
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36"
        ),
        "Chrome on Linux",
        "Chrome op Linux",
    ),
    (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Firefox on Linux",
        "Firefox op Linux",
    ),
    (
        (
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36"
        ),
        "Chrome on ChromeOS",
        "Chrome op ChromeOS",
    ),
]

PHISH = (
    "Uw account is geblokkeerd: bel 0900-1234 of ga naar https://evil.example/login om uw "
    "account te herstellen. "
)
#: Headers chosen by an attacker: none may show any of its own text.
HOSTILE = [
    (PHISH * 5)[:300],
    # Wrapped in a real browser's header, and padded so the warning is what is read.
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"{PHISH}Chrome/131.0.0.0 Safari/537.36"
    ),
    # Made to look like a browser by name.
    "Uw-account-is-geblokkeerd/1.0 (Windows NT 10.0) https://evil.example/",
    "Mozilla/5.0 \x9b31mred \u202e",  # a C1 control (CSI) and a right-to-left override
    "Chrome/131.0\u202egnp.exe\u202c (Windows NT 10.0)",
    "Mozilla/5.0 (X11; Linux x86_64)\r\n\x1b[2J\x1b[31mBEL 0900-1234\x07\x00",
    "\u2066https://evil.example\u2069 \u200b\u200f",
    "",
    "x" * 10_000,
    "curl/8.5.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
]
ALLOWED = set(BROWSERS.values()) | set(SYSTEMS.values())


@pytest.mark.parametrize(("header", "english", "dutch"), REAL)
def test_a_real_browser_is_named_with_its_system(header: str, english: str, dutch: str) -> None:
    label = browser_label(header)
    assert label.render("en") == english
    assert label.render("nl") == dutch


@pytest.mark.parametrize("header", HOSTILE)
def test_a_hostile_header_shows_none_of_its_own_text(header: str) -> None:
    for lang in ("en", "nl"):
        text = browser_label(header).render(lang)
        assert not any(unicodedata.category(c) in {"Cc", "Cf"} for c in text)
        assert "evil" not in text
        assert "0900" not in text
        assert "geblokkeerd" not in text
        assert len(text) <= 60
        words = {"unknown", "browser", "on", "an", "system", "onbekende", "op", "een", "onbekend"}
        rest = text
        for name in sorted(ALLOWED, key=len, reverse=True):
            rest = rest.replace(name, " ")
        assert set(rest.split()) <= words, text


def test_an_unknown_browser_is_said_so_in_both_languages() -> None:
    assert browser_label(PHISH).render("en") == "unknown browser"
    assert browser_label(PHISH).render("nl") == "onbekende browser"


def test_a_known_browser_on_an_unknown_system_is_named_alone() -> None:
    label = browser_label("Mozilla/5.0 (Nintendo; rv:133.0) Gecko/20100101 Firefox/133.0")
    assert label.render("en") == "Firefox on an unknown system"
    assert label.render("nl") == "Firefox op een onbekend systeem"
