"""CSRF tokens compare any text a request can carry without raising."""

from __future__ import annotations

import pytest

from zorgid.core.tokens import hash_token, same_token
from zorgid.web.security import csrf_ok, csrf_token

SECRET = b"k" * 32


@pytest.mark.parametrize("token", ["é", "\x00", "\ud800", "😀", "a" * 10_000, " "])
def test_csrf_ok_refuses_any_text_that_is_not_the_token(token: str) -> None:
    assert csrf_ok(SECRET, "binding", token) is False
    assert csrf_ok(SECRET, token, csrf_token(SECRET, "binding")) is False


def test_csrf_ok_accepts_the_token_of_its_binding_even_a_non_ascii_one() -> None:
    assert csrf_ok(SECRET, "bïnding\ud800", csrf_token(SECRET, "bïnding\ud800"))


@pytest.mark.parametrize("token", ["é", "\ud800", "\x00"])
def test_a_token_of_any_text_hashes_and_compares(token: str) -> None:
    assert not same_token(token, hash_token("other"))
    assert same_token(token, hash_token(token))
