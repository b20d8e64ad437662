"""Fixtures shared by all tests."""

from __future__ import annotations

#: ``softhsm_token``: a throw-away SoftHSM2 PKCS#11 token (tests/softhsm.py).
pytest_plugins = ["tests.softhsm"]
