"""Every request body within its route's limit: a 413 before it is read, however it is sent.

One pure ASGI middleware around the whole app (zorgid.web.app) knows each route's limit. When
a route reads the body of a request that announces a longer one (Content-Length), the first
read raises :class:`BodyTooLargeError` without a byte of the body read; a body without a length
(chunked) is counted as it arrives, and the read that passes the limit raises. The app's error
handlers answer :class:`~zorgid.web.errors.TooLargeError` (``too_large``: JSON for the API, the
error page otherwise; the upload shows its own page), and the connection closes after it
(zorgid.web.security), so the server stops reading what is left. A route that does not read
the body answers as it would, and that connection closes too. (HTTP/1.1 bytes beyond an
announced length are no body but the next request: the HTTP server refuses them as malformed.)
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException

from zorgid.orgdoc.document import MAX_DOCUMENT_BYTES
from zorgid.web.errors import BODY_LIMIT

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

KIB = 1024
#: The app API and the login's requests: JSON bodies and forms of a few hundred bytes.
SMALL_BODY = 8 * KIB
#: Every other route: enough for any text form of ours (an application's fields, a rejection
#: reason).
FORM_LIMIT = 64 * KIB
#: The organisation document's upload: the document's own limit plus room for the form.
UPLOAD_LIMIT = MAX_DOCUMENT_BYTES + 32 * KIB
_UPLOAD = re.compile(r"/aanvraag/[^/]+/document")
_SMALL = ("/api/", "/login/")


def limit_for(path: str) -> int:
    """The body limit of the route at ``path``, in bytes."""
    if path.startswith(_SMALL):
        return SMALL_BODY
    if _UPLOAD.fullmatch(path):
        return UPLOAD_LIMIT
    return FORM_LIMIT


class BodyTooLargeError(HTTPException):
    """Raised by ``receive`` once the bytes that arrived pass the limit.

    An HTTPException, because FastAPI turns any other error while it reads a body into a 400;
    zorgid.web.errors answers it as :class:`~zorgid.web.errors.TooLargeError`.
    """

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="Content Too Large")


class BodyLimit:
    """Pure ASGI middleware: each request's body within :func:`limit_for` its path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count the body as the route reads it; refuse it once it is (or says it is) too long."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = scope[BODY_LIMIT] = limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length", b"")
        # Announced too long: refused at the first read, before a byte of the body is read.
        received = int(declared) if declared.isdigit() and int(declared) > limit else 0

        async def counted() -> Message:
            nonlocal received
            if received > limit:
                raise BodyTooLargeError
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError
            return message

        await self.app(scope, counted, send)
