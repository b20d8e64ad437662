"""Reading a QR code (an image file or its text) and parsing its pointer strictly.

protocol.md "QR codes": ``{PUBLIC_URL}/app/activeer/{activation_id}#{nonce}`` and
``{PUBLIC_URL}/app/login/{login_id}#{nonce}``; ids and nonces are 22 base64url characters.
Anything else is refused: a QR code is hostile input, and the base URL it names is where the
app will send a PIN.
"""

from __future__ import annotations

import enum
import io
import ipaddress
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import zxingcpp
from PIL import Image, UnidentifiedImageError

from zorgid.core.i18n import N_, Message
from zorgid.mobileapp.errors import (
    ImageTooLargeError,
    ImageUnreadableError,
    QrAmbiguousError,
    QrInvalidError,
    QrNotFoundError,
    QrWrongKindError,
)

#: Image files over this size are refused before they are decoded.
MAX_IMAGE_BYTES = 20 * 1024 * 1024
#: ... and images with more pixels than this (a decompression bomb fits in few bytes).
MAX_IMAGE_PIXELS = 40_000_000
#: Longer than any pointer the service makes; longer text is refused before any parsing.
MAX_TEXT = 2048

_RANDOM_ID = r"[A-Za-z0-9_-]{22}"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]{{2,45}}\])"
_SEGMENT = r"[A-Za-z0-9_~-][A-Za-z0-9._~-]*"
_POINTER = re.compile(
    rf"(?P<scheme>[Hh][Tt][Tt][Pp][Ss]?)://(?P<host>{_HOST})(?::(?P<port>[0-9]{{1,5}}))?"
    rf"(?P<prefix>(?:/{_SEGMENT})*)"
    rf"/app/(?P<kind>activeer|login)/(?P<id>{_RANDOM_ID})#(?P<nonce>{_RANDOM_ID})"
)
_MAX_PORT = 65535


class QrKind(enum.Enum):
    """What a QR code is for; the value is its path segment."""

    ACTIVATION = "activeer"
    LOGIN = "login"

    @property
    def command(self) -> str:
        """The ``zorgid app`` command that takes this kind of QR code."""
        return "activate" if self is QrKind.ACTIVATION else "login"

    @property
    def description(self) -> str:
        """How a person calls it (an N_ msgid)."""
        if self is QrKind.ACTIVATION:
            return N_("an activation QR code")
        return N_("a login QR code")


@dataclass(frozen=True)
class QrPointer:
    """A parsed QR code: which service, what for, the identifier and the nonce."""

    kind: QrKind
    #: ``PUBLIC_URL``: scheme and host in lower case, no trailing slash.
    base_url: str
    identifier: str
    nonce: str

    @property
    def host(self) -> str:
        """The host (and port) part of the base URL, for messages."""
        return self.base_url.split("://", 1)[1].split("/", 1)[0]


def parse_pointer(text: str) -> QrPointer:
    """Parse the text of a ZORG-ID QR code, or raise :class:`QrInvalidError`."""
    candidate = text.strip()
    if len(candidate) > MAX_TEXT:
        raise QrInvalidError("text too long", reason=N_("the text is too long"))
    match = _POINTER.fullmatch(candidate)
    if match is None:
        raise QrInvalidError(
            repr(candidate[:100]), reason=N_("expected https://.../app/login/ID#NONCE")
        )
    host = match["host"]
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise QrInvalidError(host, reason=N_("the host is not valid")) from None
    port = match["port"]
    if port is not None and not 0 < int(port) <= _MAX_PORT:
        raise QrInvalidError(port, reason=N_("the port number is not valid"))
    if match["prefix"] and any(part in {".", ".."} for part in match["prefix"].split("/")):
        raise QrInvalidError(match["prefix"], reason=N_("the address contains . or .."))
    # Scheme and host are case-insensitive (RFC 3986); the path, id and nonce are not.
    base = f"{match['scheme'].lower()}://{host.lower()}"
    base += f":{port}" if port is not None else ""
    return QrPointer(
        kind=QrKind(match["kind"]),
        base_url=base + match["prefix"],
        identifier=match["id"],
        nonce=match["nonce"],
    )


def expect_kind(pointer: QrPointer, kind: QrKind) -> QrPointer:
    """``pointer`` if it is of ``kind``, else :class:`QrWrongKindError`."""
    if pointer.kind is not kind:
        raise QrWrongKindError(
            pointer.kind.value,
            found=Message(pointer.kind.description),
            command=pointer.kind.command,
            expected=Message(kind.description),
        )
    return pointer


def read_source(source: str) -> QrPointer:
    """SOURCE as the commands take it: an image file when one exists there, else the QR text."""
    path = Path(source)
    try:
        is_file = len(source) < MAX_TEXT and path.is_file()
    except (OSError, ValueError):  # a name no file system allows: it is text
        is_file = False
    if is_file:
        return parse_pointer(decode_image_file(path))
    return parse_pointer(source)


def decode_image_file(path: Path) -> str:
    """The text of the one QR code in the PNG or JPEG image at ``path``."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_IMAGE_BYTES + 1)
    except OSError as exc:
        raise ImageUnreadableError(str(exc), path=str(path)) from None
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageTooLargeError(str(len(data)), path=str(path), limit="20 MiB")
    return decode_image(data, name=str(path))


def decode_image(data: bytes, *, name: str = "<image>") -> str:
    """The text of the one QR code in a PNG or JPEG image given as bytes."""
    image = _open_image(data, name)
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormats(zxingcpp.QRCode))
    texts = list(dict.fromkeys(barcode.text for barcode in found if barcode.valid))
    if not texts:
        raise QrNotFoundError(name, path=name)
    if len(texts) > 1:
        raise QrAmbiguousError(name, path=name, count=len(texts))
    return texts[0]


def _open_image(data: bytes, name: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=("PNG", "JPEG"))
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise ImageTooLargeError(
                    f"{width}x{height}", path=name, limit=f"{MAX_IMAGE_PIXELS:,} pixels"
                )
            image.load()
            return _greyscale(image)
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,  # Pillow's PNG reader reports some broken files this way
        ValueError,
        EOFError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise ImageUnreadableError(str(exc), path=name) from None


def _greyscale(image: Image.Image) -> Image.Image:
    # Transparent pixels of a screenshot become white, not black, before the decoder sees them.
    if image.mode in {"RGBA", "LA", "PA"} or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("L")
    return image.convert("L")
