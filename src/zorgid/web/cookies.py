"""The service's cookies, each set and deleted with the same attributes.

A browser deletes a cookie only when the deleting ``Set-Cookie`` matches the one that set it
(name, path, and for a ``__Host-`` cookie also ``Secure``): every cookie is described once here
and both set and deleted through its :class:`Cookie`.

The portal session's cookie carries the ``__Host-`` prefix: browsers take it only with
``Secure``, ``Path=/`` and no ``Domain``, so no other host (a sibling subdomain) and no plain-HTTP
page can set or overwrite it. Browsers accept ``Secure`` cookies from http://localhost and
http://127.0.0.1 (a secure context), which the demo and the tests use. A deployment that turns
``cookie_secure`` off (plain HTTP on another host) cannot have a ``__Host-`` cookie: the
session cookie is then plain ``zorgid_session``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from starlette.responses import Response

    from zorgid.settings import Settings

SESSION = "__Host-zorgid_session"
#: The session cookie's name where cookies cannot be ``Secure`` (``cookie_secure`` off).
SESSION_PLAIN = "zorgid_session"
LOGIN = "zorgid_login"
FORM = "zorgid_form"
LANG = "zorgid_lang"


@dataclass(frozen=True)
class Cookie:
    """One cookie's name and attributes (always HttpOnly: no script of ours reads one)."""

    name: str
    secure: bool
    path: str = "/"
    samesite: Literal["strict", "lax"] = "strict"

    def set(self, response: Response, value: str, *, max_age: int) -> None:
        """Set the cookie on ``response``."""
        response.set_cookie(
            self.name,
            value,
            max_age=max_age,
            path=self.path,
            secure=self.secure,
            httponly=True,
            samesite=self.samesite,
        )

    def delete(self, response: Response) -> None:
        """Delete the cookie: the same attributes, an empty value, ``Max-Age=0``."""
        response.delete_cookie(
            self.name,
            path=self.path,
            secure=self.secure,
            httponly=True,
            samesite=self.samesite,
        )


def session(settings: Settings) -> Cookie:
    """The portal session's cookie (set after a completed QR login)."""
    secure = settings.cookie_secure
    return Cookie(SESSION if secure else SESSION_PLAIN, secure=secure)


def login(settings: Settings, login_id: str) -> Cookie:
    """The cookie of a browser waiting for its QR login, sent only to that login's pages."""
    return Cookie(LOGIN, secure=settings.cookie_secure, path=f"/login/{login_id}")


def form(settings: Settings) -> Cookie:
    """The public application form's cookie (its CSRF token is bound to it)."""
    return Cookie(FORM, secure=settings.cookie_secure, path="/aanvraag")


def language(settings: Settings) -> Cookie:
    """The chosen language (lax: it may come along with a link from elsewhere)."""
    return Cookie(LANG, secure=settings.cookie_secure, samesite="lax")
