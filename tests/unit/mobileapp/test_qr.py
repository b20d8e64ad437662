"""Reading QR codes from images and parsing their pointers strictly (protocol.md "QR codes")."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from tests.unit.mobileapp.conftest import qr_png
from zorgid.mobileapp.errors import (
    ImageTooLargeError,
    ImageUnreadableError,
    QrAmbiguousError,
    QrInvalidError,
    QrNotFoundError,
    QrWrongKindError,
)
from zorgid.mobileapp.qr import (
    MAX_IMAGE_BYTES,
    QrKind,
    decode_image,
    expect_kind,
    parse_pointer,
    read_source,
)

if TYPE_CHECKING:
    from pathlib import Path

ID = "AbCdEfGhIjKlMnOpQrSt_-"
NONCE = "0123456789abcdefghij-_"
LOGIN = f"https://zorgid.example/app/login/{ID}#{NONCE}"
ACTIVATION = f"https://zorgid.example/app/activeer/{ID}#{NONCE}"


# --- images ----------------------------------------------------------------------------------


def test_a_png_made_with_segno_decodes_to_its_pointer(tmp_path: Path) -> None:
    path = tmp_path / "login.png"
    path.write_bytes(qr_png(LOGIN))
    pointer = read_source(str(path))
    assert pointer.kind is QrKind.LOGIN
    assert pointer.base_url == "https://zorgid.example"
    assert (pointer.identifier, pointer.nonce) == (ID, NONCE)


def test_a_jpeg_photo_of_the_code_decodes_too(tmp_path: Path) -> None:
    image = Image.open(io.BytesIO(qr_png(ACTIVATION, scale=6))).convert("RGB")
    path = tmp_path / "activation.jpg"
    image.save(path, "JPEG", quality=70)
    assert read_source(str(path)).kind is QrKind.ACTIVATION


def test_a_screenshot_with_a_transparent_background_decodes() -> None:
    image = Image.open(io.BytesIO(qr_png(LOGIN))).convert("L")
    # Dark modules opaque black, light modules fully transparent (black underneath).
    rgba = Image.new("RGBA", image.size, (0, 0, 0, 0))
    rgba.putalpha(image.point(lambda value: 255 - value))
    buffer = io.BytesIO()
    rgba.save(buffer, "PNG")
    assert parse_pointer(decode_image(buffer.getvalue())).identifier == ID


def test_a_blank_image_has_no_qr_code(tmp_path: Path) -> None:
    path = tmp_path / "blank.png"
    Image.new("L", (300, 300), 255).save(path)
    with pytest.raises(QrNotFoundError) as caught:
        read_source(str(path))
    assert caught.value.code == "qr_not_found"


def test_a_text_file_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "qr.txt"
    path.write_text(LOGIN)
    with pytest.raises(ImageUnreadableError) as caught:
        read_source(str(path))
    assert caught.value.code == "image_unreadable"


def test_other_image_formats_are_not_accepted(tmp_path: Path) -> None:
    path = tmp_path / "qr.gif"
    Image.open(io.BytesIO(qr_png(LOGIN))).save(path, "GIF")
    with pytest.raises(ImageUnreadableError):
        read_source(str(path))


def test_a_truncated_png_is_unreadable() -> None:
    with pytest.raises(ImageUnreadableError):
        decode_image(qr_png(LOGIN)[:200])


def test_a_file_over_the_size_cap_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(qr_png(LOGIN) + b"\0" * MAX_IMAGE_BYTES)
    with pytest.raises(ImageTooLargeError):
        read_source(str(path))


def test_a_decompression_bomb_is_refused_by_its_pixel_count() -> None:
    buffer = io.BytesIO()
    Image.new("1", (8000, 8000), 1).save(buffer, "PNG")
    assert len(buffer.getvalue()) < 100_000  # small on disk, 64 megapixels in memory
    with pytest.raises(ImageTooLargeError):
        decode_image(buffer.getvalue())


def test_an_image_with_two_different_codes_is_ambiguous() -> None:
    first = Image.open(io.BytesIO(qr_png(LOGIN))).convert("L")
    second = Image.open(io.BytesIO(qr_png(ACTIVATION))).convert("L")
    both = Image.new("L", (first.width + second.width + 40, max(first.height, second.height)), 255)
    both.paste(first, (0, 0))
    both.paste(second, (first.width + 40, 0))
    buffer = io.BytesIO()
    both.save(buffer, "PNG")
    with pytest.raises(QrAmbiguousError):
        decode_image(buffer.getvalue())


# --- the pointer -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "base"),
    [
        (LOGIN, "https://zorgid.example"),
        (f"http://localhost:8000/app/login/{ID}#{NONCE}", "http://localhost:8000"),
        (f"https://example.nl/zorgid/v2/app/login/{ID}#{NONCE}", "https://example.nl/zorgid/v2"),
        (f"HTTPS://ZorgID.Example/app/login/{ID}#{NONCE}", "https://zorgid.example"),
        (f"http://127.0.0.1:9/app/login/{ID}#{NONCE}", "http://127.0.0.1:9"),
        (f"http://[::1]:8000/app/login/{ID}#{NONCE}", "http://[::1]:8000"),
        (f"  {LOGIN}\n", "https://zorgid.example"),
    ],
)
def test_the_base_url_is_everything_before_app(text: str, base: str) -> None:
    pointer = parse_pointer(text)
    assert pointer.base_url == base
    assert (pointer.identifier, pointer.nonce) == (ID, NONCE)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        f"https://zorgid.example/app/login/{ID}",  # no nonce
        f"https://zorgid.example/app/login/{ID}#",  # empty nonce
        f"https://zorgid.example/app/login/{ID[:-1]}#{NONCE}",  # 21 characters
        f"https://zorgid.example/app/login/{ID}x#{NONCE}",  # 23 characters
        f"https://zorgid.example/app/login/{ID}#{NONCE}x",
        f"https://zorgid.example/app/login/{ID}#{NONCE[:-1]}+",  # base64, not base64url
        f"https://zorgid.example/app/login/{ID}#{NONCE[:-2]}==",  # padding
        f"https://zorgid.example/app/login/{ID}#{NONCE}#{NONCE}",
        f"https://zorgid.example/app/login/{ID}/#{NONCE}",
        f"https://zorgid.example/app/login/{ID}?x=1#{NONCE}",
        f"https://zorgid.example/app/login/{ID}/extra#{NONCE}",
        f"https://zorgid.example/app/other/{ID}#{NONCE}",
        f"https://zorgid.example/APP/login/{ID}#{NONCE}",
        f"https://zorgid.example/app/LOGIN/{ID}#{NONCE}",
        f"https://zorgid.example@evil.example/app/login/{ID}#{NONCE}",  # userinfo
        f"https://user:pw@zorgid.example/app/login/{ID}#{NONCE}",
        f"https://zorgid.example/../app/login/{ID}#{NONCE}",
        f"https://zorgid.example/x/./app/login/{ID}#{NONCE}",
        f"https://zorgid.example/%2e%2e/app/login/{ID}#{NONCE}",
        f"https://zorgid.example\\app/login/{ID}#{NONCE}",
        f"https:///app/login/{ID}#{NONCE}",
        f"https://zorgid.example./app/login/{ID}#{NONCE}",
        f"https://-zorgid.example/app/login/{ID}#{NONCE}",
        f"https://zörgid.example/app/login/{ID}#{NONCE}",
        f"https://zorgid.example:0/app/login/{ID}#{NONCE}",
        f"https://zorgid.example:99999/app/login/{ID}#{NONCE}",
        f"https://zorgid.example:/app/login/{ID}#{NONCE}",
        f"https://[::g]/app/login/{ID}#{NONCE}",
        f"https://zorgid.example/app/login/{ID}#{NONCE}\n{LOGIN}",
        f"https://zorgid.example/app/ login/{ID}#{NONCE}",
        f"https://zorgid.example/app/login/{ID}#{NONCE[:-1]}\0",
        f"https://zorgid.example/app/login/{ID[:-1]}\u0410#{NONCE}",  # Cyrillic A
        f"ftp://zorgid.example/app/login/{ID}#{NONCE}",
        f"javascript://zorgid.example/app/login/{ID}#{NONCE}",
        f"//zorgid.example/app/login/{ID}#{NONCE}",
        f"https://zorgid.example/{'a/' * 2000}app/login/{ID}#{NONCE}",
    ],
)
def test_anything_but_a_pointer_is_refused(text: str) -> None:
    with pytest.raises(QrInvalidError) as caught:
        parse_pointer(text)
    assert caught.value.code == "qr_invalid"


@given(st.text(max_size=300))
def test_no_text_makes_the_parser_fail_in_another_way(text: str) -> None:
    try:
        pointer = parse_pointer(text)
    except QrInvalidError:
        return
    assert pointer.base_url.startswith(("http://", "https://"))


def test_a_login_qr_is_not_an_activation_qr() -> None:
    with pytest.raises(QrWrongKindError) as caught:
        expect_kind(parse_pointer(LOGIN), QrKind.ACTIVATION)
    assert caught.value.code == "qr_wrong_kind"
    assert "zorgid app login" in caught.value.public_message("en")


def test_a_missing_file_name_is_taken_as_text_and_refused(tmp_path: Path) -> None:
    with pytest.raises(QrInvalidError):
        read_source(str(tmp_path / "does-not-exist.png"))


def test_a_directory_is_taken_as_text_and_refused(tmp_path: Path) -> None:
    with pytest.raises(QrInvalidError):
        read_source(str(tmp_path))
