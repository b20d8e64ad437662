"""Rendering pages: Jinja2 with autoescaping, texts through gettext in the person's language."""

from __future__ import annotations

import urllib.parse
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from zorgid.core.i18n import translate
from zorgid.web import cookies
from zorgid.web.language import request_language

if TYPE_CHECKING:
    from collections.abc import Mapping

    from starlette.requests import Request

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


@cache
def environment() -> Environment:
    """The one template environment (built on first use, not at import)."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        auto_reload=False,
    )


#: What a path segment may hold unencoded (RFC 3986 pchar, without ``%``: a decoded path's ``%``
#: is a character of its own).
_PCHAR = "/-._~!$&'()*+,;=:@"


def own_path(path: str) -> str:
    """A request's (decoded) path as a link to the same page on this site.

    ``//evil.example/x`` (or ``/%2F%2Fevil.example/x``) would be a scheme-relative link to
    another host, and browsers read a backslash as a slash and drop tabs and newlines from
    addresses: the path gets one leading slash and everything else percent-encoded.
    """
    return "/" + urllib.parse.quote(path.lstrip("/"), safe=_PCHAR)


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """A page in the request's language; ``_`` in templates translates an English msgid."""
    lang = request_language(request)
    container = request.app.state.container
    html = (
        environment()
        .get_template(template)
        .render(
            {
                "_": partial(translate, lang=lang),
                "lang": lang,
                "other_lang": "en" if lang == "nl" else "nl",
                "service_name": container.settings.service_name,
                "path": own_path(request.scope["path"]),
                **context,
            }
        )
    )
    response = HTMLResponse(html, status_code=status, headers=dict(headers or {}))
    if request.query_params.get("lang") == lang:
        cookies.language(container.settings).set(response, lang, max_age=31536000)
    return response
