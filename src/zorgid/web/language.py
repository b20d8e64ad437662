"""The language of a request: ``?lang=``, then the ``zorgid_lang`` cookie, then Accept-Language."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zorgid.core.i18n import DEFAULT, SUPPORTED
from zorgid.web.cookies import LANG

if TYPE_CHECKING:
    from starlette.requests import Request


def request_language(request: Request) -> str:
    """Dutch unless the person chose or their browser prefers English."""
    for candidate in (request.query_params.get("lang"), request.cookies.get(LANG)):
        if candidate in SUPPORTED:
            return candidate
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";", 1)[0].strip().lower()[:2]
        if tag in SUPPORTED:
            return tag
    return DEFAULT
