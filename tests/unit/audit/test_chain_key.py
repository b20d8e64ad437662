"""The audit key: HMAC-SHA256 from its two pads is Python's hmac, in Python and in PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine, inspect, text

from tests.unit.audit.test_chain import AWKWARD
from zorgid.audit.log import GENESIS, ChainKey, around_seq, event_hash, plain_hash

if TYPE_CHECKING:
    from zorgid.bootstrap import Container

KEYS = (
    bytes(32),
    b"\xff" * 32,
    bytes(range(32)),
    b"\x00\x36\x5c\xff" * 8,
    b"k",
    b"\x5c" * 64,
)
# Text as the chain hashes it: non-ASCII, quotes, backslashes, escaped NUL, a "seq" inside.
MESSAGES = (
    "",
    "a",
    f"{GENESIS}\n" + json.dumps(AWKWARD, ensure_ascii=False, sort_keys=True),
    'Zoë van \'t Hoff 🩺 "seq":0, \\ \\u0000 ß',
    "x" * 1000,
)


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("message", MESSAGES)
def test_the_two_pads_give_hmac_sha256(key: bytes, message: str) -> None:
    chain = ChainKey(key)
    expected = hmac.new(key, message.encode(), hashlib.sha256).hexdigest()
    inner = hashlib.sha256(chain.inner + message.encode()).digest()

    assert hashlib.sha256(chain.outer + inner).hexdigest() == expected
    assert chain.mac(message) == expected


def test_the_key_is_not_shown() -> None:
    assert "00" * 32 not in repr(ChainKey(bytes(32)))
    assert bytes(32).hex() not in repr(ChainKey(bytes(32)))


@pytest.mark.parametrize("length", [0, 65])
def test_a_key_of_a_wrong_length_is_refused(length: int) -> None:
    with pytest.raises(ValueError, match="audit key"):
        ChainKey(b"k" * length)


def test_another_key_gives_another_chain_and_no_key_is_not_plain_sha256() -> None:
    values = {**_values(), "seq": 1}
    one, other = ChainKey(KEYS[2]), ChainKey(KEYS[3])

    assert event_hash(one, GENESIS, values) != event_hash(other, GENESIS, values)
    assert event_hash(one, GENESIS, values) != plain_hash(GENESIS, values)


def _values() -> dict[str, object]:
    return {
        "at": dt.datetime(2026, 12, 7, 5, 48, 27, tzinfo=dt.UTC),
        "action": "login.approved",
        "actor": 'device:"seq":0,',
        "subject": "person:ß",
        "source": "app",
        "details": AWKWARD,
    }


# PostgreSQL computes the link inside the append's one statement (audit.log._APPEND_AFTER_CHANGES)
# with nothing but its sha256: the same expression, on its own, for every key and awkward text.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_computes_the_same_hmac_from_the_pads(container: Container) -> None:
    query = text(
        "SELECT encode(sha256(CAST(:outer AS bytea) || sha256(CAST(:inner AS bytea) || "
        "convert_to(:prev || chr(10) || :before || CAST(:seq AS integer) || :after, 'UTF8'))), "
        "'hex')"
    )
    before, after = around_seq(_values())
    with container.engine.connect() as connection:
        for key in map(ChainKey, KEYS):
            for seq in (1, 9, 12345):
                params = {"inner": key.inner, "outer": key.outer, "prev": GENESIS, "seq": seq}
                got = connection.execute(query, {**params, "before": before, "after": after})
                assert got.scalar_one() == event_hash(key, GENESIS, {**_values(), "seq": seq})


def test_the_audit_key_is_nowhere_in_the_database(story: Container, database_url: str) -> None:
    key = story.keys.audit
    material = [key.key, key.inner, key.outer]
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            tables = inspect(connection).get_table_names()
            assert "audit_events" in tables
            for table in tables:
                for row in connection.execute(text(f'SELECT * FROM "{table}"')):  # noqa: S608
                    for value in row:
                        raw = value if isinstance(value, bytes) else str(value).encode()
                        for secret in material:
                            assert secret not in raw
                            assert secret.hex().encode() not in raw
    finally:
        engine.dispose()
