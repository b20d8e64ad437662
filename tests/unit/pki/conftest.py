"""Fixtures shared by the PKI tests: a test hierarchy and a look-alike of it."""

from __future__ import annotations

import pytest

from tests.support.pki import NOW
from zorgid.pki.testpki import TestPki


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki(now=NOW)


@pytest.fixture(scope="module")
def other_pki() -> TestPki:
    # An independent hierarchy with the very same CA names and other keys: what a forger sets up.
    return TestPki(now=NOW)
