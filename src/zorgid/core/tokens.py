"""Unguessable tokens and how they are kept: random from ``secrets``, stored only as hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets

#: 16 bytes = 128 bits, the floor for one-time codes and session identifiers (security.md).
TOKEN_BYTES = 16


def new_token(nbytes: int = TOKEN_BYTES) -> str:
    """A fresh URL-safe random token of ``nbytes`` bytes of entropy."""
    return secrets.token_urlsafe(nbytes)


def new_id() -> str:
    """A fresh public identifier (128 bits, URL-safe)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The SHA-256 of a token, as stored: a leaked table does not hand out the token itself.

    Any text hashes (lone surrogates too, which only a hostile caller sends): a token from a
    request is looked up by its hash and compared as the hash, so it never raises.
    """
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def same_token(token: str, stored_hash: str) -> bool:
    """Whether ``token`` hashes to ``stored_hash``, in constant time."""
    return hmac.compare_digest(hash_token(token), stored_hash)


def new_digits(count: int) -> str:
    """A uniformly random string of ``count`` decimal digits."""
    return "".join(secrets.choice("0123456789") for _ in range(count))
