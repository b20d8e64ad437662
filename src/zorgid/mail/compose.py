"""Composing e-mail with the standard library: text first, HTML alternative, attachments.

Every header value is checked for line breaks before it reaches the message: a value such as
``x<CR><LF>Bcc: someone`` (header injection) is refused, never folded into the message.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from typing import TYPE_CHECKING

from zorgid.mail.errors import MailHeaderError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

#: Headers :func:`compose` writes itself; ``headers=`` may not set them a second time.
_OWN_HEADERS = frozenset(
    {"from", "to", "cc", "bcc", "subject", "reply-to", "date", "message-id", "mime-version"}
    | {"content-type", "content-transfer-encoding", "content-disposition"}
)
#: RFC 5322 section 3.6.8: a field name is printable US-ASCII except the colon.
_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+")
_BREAKS = ("\r", "\n", "\x00")


@dataclass(frozen=True)
class Attachment:
    """A file attached to an e-mail."""

    filename: str
    content_type: str
    data: bytes


def compose(  # noqa: PLR0913 - every argument is a distinct, named part of an e-mail
    *,
    sender: str,
    recipient: str,
    subject: str,
    text: str,
    html: str | None = None,
    attachments: Iterable[Attachment] = (),
    reply_to: str | None = None,
    message_id_domain: str,
    headers: Mapping[str, str] | None = None,
    date: dt.datetime | None = None,
) -> EmailMessage:
    """A complete message with a fresh Message-ID, ready for the outbox."""
    for name, address in (("From", sender), ("To", recipient), ("Reply-To", reply_to)):
        if address is not None:
            _check_address(name, address)
    _check_value("Subject", subject)
    extra = dict(headers or {})
    for name, value in extra.items():
        if not _FIELD_NAME.fullmatch(name) or name.lower() in _OWN_HEADERS:
            raise MailHeaderError(f"header name {name!r} not allowed")
        _check_value(name, value)

    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = sender
    message["To"] = recipient
    if reply_to is not None:
        message["Reply-To"] = reply_to
    message["Subject"] = subject
    message["Date"] = format_datetime((date or dt.datetime.now(dt.UTC)).astimezone(dt.UTC))
    message["Message-ID"] = make_msgid(domain=message_id_domain)
    for name, value in extra.items():
        message[name] = value
    # Quoted-printable keeps the body 7-bit clean, so no relay needs 8BITMIME to carry it.
    message.set_content(text, charset="utf-8", cte="quoted-printable")
    if html is not None:
        message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    for attachment in attachments:
        _check_value("filename", attachment.filename)
        if not _CONTENT_TYPE.fullmatch(attachment.content_type):
            raise MailHeaderError(f"content type {attachment.content_type!r} not valid")
        maintype, subtype = attachment.content_type.lower().split("/")
        message.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    return message


def _check_value(name: str, value: str) -> None:
    if any(character in value for character in _BREAKS):
        raise MailHeaderError(f"{name} contains a line break: {value!r}")


def _check_address(name: str, value: str) -> None:
    _check_value(name, value)
    addresses = getaddresses([value])
    if len(addresses) != 1 or "@" not in addresses[0][1]:
        raise MailHeaderError(f"{name} is not one e-mail address: {value!r}")
