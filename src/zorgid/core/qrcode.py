"""QR codes as the service hands them out: one error-correction level and one PNG size."""

from __future__ import annotations

import io

import segno


def make_qr(text: str) -> segno.QRCode:
    """The QR code of ``text`` (level M: readable from a screen photo or a printed page)."""
    return segno.make(text, error="m")


def png_bytes(qr: segno.QRCode) -> bytes:
    """``qr`` as a PNG large enough for a phone camera or a screenshot decoder."""
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue()
