"""Fixtures shared by all tests."""

from __future__ import annotations

#: ``softhsm_token``: a throw-away SoftHSM2 PKCS#11 token (tests/softhsm.py).
#: ``database_url``, ``clock``, ``settings``, ``container``: a fresh migrated database per test,
#: on SQLite and PostgreSQL, and a hand-moved clock (tests/support/db.py).
#: ``mail_catcher``: a real SMTP server on loopback keeping what it gets (tests/support/mail.py).
pytest_plugins = [
    "tests.softhsm",
    "tests.support.db",
    "tests.support.server",
    "tests.support.registration",
    "tests.support.site",
    "tests.support.mail",
]
