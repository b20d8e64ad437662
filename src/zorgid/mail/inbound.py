"""Reading a received e-mail defensively, and the reply addresses that carry a request's token.

Pure: bytes in, a frozen :class:`InboundMail` out, or an :class:`InboundMailError` that says
what was wrong. The order of the checks is the defence:

1. the size, before anything else looks at the bytes;
2. a cheap, bounded pre-scan counting the headers that make the standard library's parser
   recurse (``Content-Type: multipart/...`` and ``message/...``), so that a MIME bomb or a
   message nested 10,000 deep is refused before the parser descends into it (a
   ``RecursionError`` that slips past is caught as well);
3. the parse, then a walk that counts parts and depth against the limits.

Who sent a mail is never decided here: the ``From`` header is reported as written (it can be
spoofed); a request is found by the unguessable token in the reply address
(:func:`token_from_address`), never by the sender.
"""

from __future__ import annotations

import base64
import email.policy
import re
import secrets
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses
from typing import TYPE_CHECKING

from zorgid.mail.compose import Attachment
from zorgid.mail.errors import (
    MEGABYTE,
    InboundMailError,
    MailMalformedError,
    MailTooComplexError,
    MailTooLargeError,
)

if TYPE_CHECKING:
    from email.message import EmailMessage

#: 20 random bytes are exactly 32 base32 characters: no padding, 160 bits.
MAIL_TOKEN_BYTES = 20
_TOKEN = "[a-z2-7]{32}"  # noqa: S105 - the pattern of a token, not a secret
#: A header that makes the parser read a nested structure; folding may sit after the colon.
_CONTAINER_HEADER = re.compile(
    rb"^content-type:\s*(?:multipart|message)\s*/", re.IGNORECASE | re.MULTILINE
)
_FILENAME_CHARS = 200
_UNSAFE_FILENAME = re.compile(r"[\x00-\x1f\x7f/\\]")


@dataclass(frozen=True)
class InboundLimits:
    """How much of a received e-mail is read at most."""

    max_bytes: int = MEGABYTE
    max_parts: int = 20
    max_depth: int = 5
    max_attachments_bytes: int = MEGABYTE
    max_text_chars: int = 20_000


@dataclass(frozen=True)
class InboundMail:
    """What a received e-mail says, as far as the service reads it."""

    message_id: str | None
    #: The address in the ``From`` header, as written (not proof of anything).
    sender: str
    subject: str
    #: The first text/plain body that is not an attachment, truncated to the limit.
    text: str
    attachments: tuple[Attachment, ...]


def parse_inbound(raw: bytes, limits: InboundLimits | None = None) -> InboundMail:
    """Read ``raw`` within ``limits``, or raise an :class:`InboundMailError`."""
    limits = limits or InboundLimits()
    if len(raw) > limits.max_bytes:
        raise MailTooLargeError(f"{len(raw)} bytes", limit_bytes=limits.max_bytes)
    _prescan(raw, limits)
    try:
        message = BytesParser(policy=email.policy.default).parsebytes(raw)
        return _read(message, limits)
    except InboundMailError:
        raise
    except RecursionError:
        raise MailTooComplexError("the parser recursed too deeply") from None
    except Exception as error:  # noqa: BLE001 - hostile bytes can make the stdlib email package raise assorted errors; each means "cannot be read"
        raise MailMalformedError(f"parsing failed: {error!r}") from None


def _prescan(raw: bytes, limits: InboundLimits) -> None:
    # finditer stops early: the scan is bounded by the limit, not by the attacker's count.
    for containers, _ in enumerate(_CONTAINER_HEADER.finditer(raw), start=1):
        if containers > limits.max_parts:
            raise MailTooComplexError(f"more than {limits.max_parts} nested containers")


@dataclass
class _Walk:
    limits: InboundLimits
    parts: int = 0
    attachment_bytes: int = 0
    text: str | None = None


def _read(message: EmailMessage, limits: InboundLimits) -> InboundMail:
    if not message.keys():
        raise MailMalformedError("no headers")
    senders = [address for _, address in getaddresses([str(message.get("From", ""))])]
    if len(senders) != 1 or "@" not in senders[0]:
        raise MailMalformedError("no single From address")
    walk = _Walk(limits)
    attachments = tuple(_walk(message, 0, walk))
    message_id = str(message.get("Message-ID", "")).strip()
    return InboundMail(
        message_id=message_id or None,
        sender=senders[0],
        subject=" ".join(str(message.get("Subject", "")).split()),
        text=(walk.text or "")[: limits.max_text_chars],
        attachments=attachments,
    )


def _walk(part: Message, depth: int, walk: _Walk) -> list[Attachment]:
    walk.parts += 1
    if walk.parts > walk.limits.max_parts:
        raise MailTooComplexError(f"more than {walk.limits.max_parts} parts")
    if depth > walk.limits.max_depth:
        raise MailTooComplexError(f"nested deeper than {walk.limits.max_depth}")
    if part.is_multipart():
        # Covers message/rfc822 too (a forwarded e-mail): its payload is a list of one message.
        children = part.get_payload()
        if not isinstance(children, list):  # pragma: no cover - is_multipart() promises a list
            raise MailMalformedError("multipart without parts")
        return [
            found
            for child in children
            if isinstance(child, Message)
            for found in _walk(child, depth + 1, walk)
        ]
    filename = part.get_filename()
    is_attachment = filename is not None or part.get_content_disposition() == "attachment"
    data = part.get_payload(decode=True)
    data = data if isinstance(data, bytes) else b""
    if not is_attachment:
        if walk.text is None and part.get_content_type() == "text/plain":
            walk.text = _decode_text(data, part.get_content_charset())
        return []
    walk.attachment_bytes += len(data)
    if walk.attachment_bytes > walk.limits.max_attachments_bytes:
        raise MailTooLargeError(
            f"attachments exceed {walk.limits.max_attachments_bytes} bytes",
            limit_bytes=walk.limits.max_attachments_bytes,
        )
    return [Attachment(_safe_filename(filename), part.get_content_type(), data)]


def _decode_text(data: bytes, charset: str | None) -> str:
    try:
        text = data.decode(charset or "utf-8", "replace")
    except LookupError:  # an unknown charset name: read it as UTF-8 rather than refuse
        text = data.decode("utf-8", "replace")
    # Mail lines end in CRLF on the wire; text in Python ends lines in LF.
    return text.replace("\r\n", "\n")


def _safe_filename(filename: str | None) -> str:
    # The name is the sender's choice: no paths, no control characters, a bounded length.
    name = _UNSAFE_FILENAME.sub("_", filename or "").strip(" .")
    return name[-_FILENAME_CHARS:] or "attachment"


def new_mail_token() -> str:
    """A fresh reply-address token: 160 random bits as 32 lowercase base32 characters."""
    return base64.b32encode(secrets.token_bytes(MAIL_TOKEN_BYTES)).decode("ascii").lower()


def reply_address(token: str, *, local: str = "aanvraag", domain: str) -> str:
    """The address ``local+token@domain`` a person replies to."""
    if not re.fullmatch(_TOKEN, token):
        msg = "not a mail token (32 lowercase base32 characters)"
        raise ValueError(msg)
    return f"{local}+{token}@{domain}"


def token_from_address(address: str, *, local: str = "aanvraag", domain: str) -> str | None:
    """The token in a reply address (any letter case), or None if it is not one of ours."""
    bare = address.strip()
    if bare.startswith("<") and bare.endswith(">"):
        bare = bare[1:-1]
    found = re.fullmatch(
        rf"{re.escape(local.lower())}\+({_TOKEN})@{re.escape(domain.lower())}", bare.lower()
    )
    return found.group(1) if found else None
