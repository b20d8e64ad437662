"""The demo's mailbox: the messages a :class:`~zorgid.mail.catcher.MailCatcher` caught, as pages.

Only for the demo and tests (an app includes :func:`catcher_router` when it runs with a
catcher); a deployed service relays mail to a real SMTP server and has no such pages.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import Response

from zorgid.core.i18n import N_
from zorgid.mail.errors import MailUnknownError
from zorgid.web.errors import NotFoundError
from zorgid.web.pages import render

if TYPE_CHECKING:
    from zorgid.mail.catcher import CaughtMessage, MailCatcher

PREFIX = "/demo/post"
#: Images a browser may show inline; anything else (SVG can carry script) is only downloaded.
INLINE_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
HEADER_LABELS = (
    ("From", N_("From")),
    ("To", N_("To")),
    ("Reply-To", N_("Reply to")),
    ("Subject", N_("Subject")),
)
#: A content type as a browser may be given it (``type/subtype``, no parameters, no breaks).
_CONTENT_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")


def catcher_router(catcher: MailCatcher) -> APIRouter:
    """The routes of the demo mailbox around ``catcher``."""
    router = APIRouter(include_in_schema=False)

    def caught(message_id: str) -> CaughtMessage:
        try:
            return catcher.message(message_id)
        except MailUnknownError:
            raise NotFoundError(f"no caught message {message_id!r}") from None

    @router.get(PREFIX)
    def inbox(request: Request) -> Response:
        """Every caught message, newest first."""
        return render(
            request,
            "catcher_list.html",
            {"messages": catcher.messages()[::-1], "dropped": catcher.dropped},
        )

    @router.get(PREFIX + "/{message_id}")
    def message(request: Request, message_id: str) -> Response:
        """One message: its headers, text and attachments."""
        mail = caught(message_id)
        headers = [(label, mail.header(name)) for name, label in HEADER_LABELS]
        return render(
            request,
            "catcher_message.html",
            {
                "mail": mail,
                "segments": _linked(mail.text, request.app.state.container.settings.public_url),
                "headers": [(label, value) for label, value in headers if value is not None],
                "base": f"{PREFIX}/{mail.id}",
            },
        )

    @router.get(PREFIX + "/{message_id}/bijlage/{number}")
    def attachment(message_id: str, number: int) -> Response:
        """The ``number``-th attachment (from 1), as its own content type."""
        mail = caught(message_id)
        if not 1 <= number <= len(mail.attachments):
            raise NotFoundError(f"message {message_id} has no attachment {number}")
        found = mail.attachments[number - 1]
        content_type = found.content_type.lower()
        if not _CONTENT_TYPE.fullmatch(content_type):
            content_type = "application/octet-stream"
        return Response(
            found.data,
            media_type=content_type,
            headers={
                "Content-Disposition": _disposition(
                    found.filename, inline=content_type in INLINE_IMAGES
                )
            },
        )

    @router.get(PREFIX + "/{message_id}/bericht.eml")
    def raw(message_id: str) -> Response:
        """The message exactly as received."""
        return Response(
            caught(message_id).raw,
            media_type="message/rfc822",
            headers={"Content-Disposition": _disposition("bericht.eml", inline=False)},
        )

    return router


_URL = re.compile(r"https?://[^\s<>\"']+")


def _linked(text: str, own_url: str) -> list[tuple[str, str | None]]:
    """The text in pieces, with the service's own addresses as links (others stay text)."""
    pieces: list[tuple[str, str | None]] = []
    position = 0
    for found in _URL.finditer(text):
        url = found.group(0).rstrip(".,;:)")
        if not url.startswith(own_url + "/"):
            continue
        pieces.append((text[position : found.start()], None))
        pieces.append((url, url))
        position = found.start() + len(url)
    pieces.append((text[position:], None))
    return pieces


def _disposition(filename: str, *, inline: bool) -> str:
    # RFC 6266: a plain ASCII fallback, and the exact name percent-encoded in filename*.
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
