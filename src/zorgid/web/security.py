"""Security headers for every response, and CSRF tokens for every state-changing form."""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from zorgid.core.protocol import b64url

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

# No inline script or style anywhere: pages load their script and style from /static.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
]
NO_STORE = (b"cache-control", b"no-store")
CLOSE = (b"connection", b"close")


class SecurityHeaders:
    """Pure ASGI middleware (no per-request task, unlike BaseHTTPMiddleware).

    Also closes the connection after a response given before its request's body ended.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the headers to every HTTP response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")
        unread = _announces_body(scope)

        async def receive_body() -> Message:
            nonlocal unread
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                unread = False
            return message

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(HEADERS)
                if not static:
                    headers.append(NO_STORE)
                if unread:
                    # Answered before the body ended (a 413, a refusal that did not need it):
                    # the connection closes, so the server stops reading what is left of it.
                    headers.append(CLOSE)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive_body, send_with_headers)


def _announces_body(scope: Scope) -> bool:
    """Whether a body is coming: the request announces one (HTTP/1.1: a length or chunks)."""
    # A function of its own: the request's headers as a dict are not kept for the request's life.
    headers = dict(scope.get("headers", []))
    return headers.get(b"content-length", b"0") not in {b"", b"0"} or (
        b"transfer-encoding" in headers
    )


def csrf_token(secret: bytes, binding: str) -> str:
    """The CSRF token for a browser, bound to its login or session cookie."""
    mac = hmac.new(secret, b"zorgid-csrf-v1\0" + _utf8(binding), hashlib.sha256).digest()
    return b64url(mac)


def csrf_ok(secret: bytes, binding: str | None, token: str | None) -> bool:
    """Whether ``token`` is the CSRF token for ``binding`` (constant time).

    Compared as bytes: ``hmac.compare_digest`` refuses ``str`` with anything but ASCII (a
    TypeError, which was a 500 for one non-ASCII character in the field).
    """
    if not binding or not token:
        return False
    return hmac.compare_digest(csrf_token(secret, binding).encode(), _utf8(token))


def _utf8(text: str) -> bytes:
    # Any text a request can carry, lone surrogates included, becomes bytes without an error.
    return text.encode("utf-8", "surrogatepass")
