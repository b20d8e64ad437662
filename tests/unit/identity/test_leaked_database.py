"""A copy of the database alone confirms no PIN (docs/protocol.md, "PIN"; security.md).

The attacker has every row but not ``pin.key``. They know the documented construction,
``HMAC-SHA256(pin_key, "zorgid-pin-v1" ‖ device_id ‖ salt ‖ pin)``, and try all 100,000 PINs
with every key they can get without the file (none, zeros) and with plain SHA-256 of the same
bytes, joined with and without separators. The control runs the very same search with the real
key: it must confirm exactly the right PIN, so the search is known to be able to succeed.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import create_engine, inspect, text

from tests.support.identity import activated_device

if TYPE_CHECKING:
    from zorgid.bootstrap import Container

PIN = "80235"
ALL_PINS = [f"{n:05d}".encode() for n in range(100_000)]
#: HMAC pads its key with zero bytes to the hash's block size, so the empty key is also every
#: all-zero key up to 64 bytes: one search covers "no key" and "a key of zeros".
NO_KEY = b""


@dataclass(frozen=True)
class LeakedDevice:
    """What a copy of the ``devices`` table tells about one device."""

    device_id: str
    salt: bytes
    pin_mac: bytes


def _leak(database_url: str, device_id: str) -> LeakedDevice:
    # A separate, plain engine: the attacker's copy, read without any of zorgid's code.
    url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT id, pin_salt, pin_mac FROM devices WHERE id = :id"), {"id": device_id}
            ).one()
        return LeakedDevice(row.id, bytes(row.pin_salt), bytes(row.pin_mac))
    finally:
        engine.dispose()


def _prefixes(leaked: LeakedDevice) -> list[bytes]:
    # "‖" in the documentation: the parts joined as they are, or with zorgid's separator.
    device_id = leaked.device_id.encode()
    return [
        separator.join((b"zorgid-pin-v1", device_id, leaked.salt)) + separator
        for separator in (b"\0", b"")
    ]


def _search(leaked: LeakedDevice, key: bytes) -> set[str]:
    """Every PIN that HMAC-SHA256 under ``key``, or plain SHA-256, maps to the stored MAC."""
    stored = leaked.pin_mac
    found: set[str] = set()
    for prefix in _prefixes(leaked):
        found.update(
            p.decode() for p in ALL_PINS if hmac.digest(key, prefix + p, "sha256") == stored
        )
        found.update(p.decode() for p in ALL_PINS if hashlib.sha256(prefix + p).digest() == stored)
    return found


def test_a_copy_of_the_database_without_the_key_file_confirms_no_pin(
    container: Container, database_url: str
) -> None:
    device = activated_device(container, pin=PIN)
    leaked = _leak(database_url, device.id)

    assert _search(leaked, NO_KEY) == set()
    assert _search(leaked, container.keys.pin) == {PIN}


def test_the_pin_key_is_nowhere_in_the_database(container: Container, database_url: str) -> None:
    activated_device(container, pin=PIN)
    key = container.keys.pin
    url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            tables = inspect(connection).get_table_names()
            assert "devices" in tables
            for table in tables:
                for row in connection.execute(text(f'SELECT * FROM "{table}"')):  # noqa: S608
                    for value in row:
                        raw = value if isinstance(value, bytes) else str(value).encode()
                        assert key not in raw
                        assert key.hex().encode() not in raw
    finally:
        engine.dispose()
