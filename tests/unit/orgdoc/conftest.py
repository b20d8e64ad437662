"""Fixtures for the organisation-document tests: one test PKI and signed documents."""

from __future__ import annotations

import pytest

from tests.support.orgdoc import NOW, URA, sign_document
from zorgid.pki.testpki import Issued, TestPki, new_ec_key


@pytest.fixture(scope="session")
def pki() -> TestPki:
    return TestPki(now=NOW)


@pytest.fixture(scope="session")
def server(pki: TestPki) -> Issued:
    return pki.issue_server(
        ura=URA,
        organisation="Huisartsenpraktijk De Linde",
        fqdn="his.delinde.example",
        uzi_number="900030001",
    )


@pytest.fixture(scope="session")
def other_server(pki: TestPki) -> Issued:
    return pki.issue_server(
        ura="90000456",
        organisation="Apotheek Het Kruis",
        fqdn="server.hetkruis.example",
        uzi_number="900030002",
    )


@pytest.fixture(scope="session")
def ec_server(pki: TestPki) -> Issued:
    return pki.issue_server(
        ura=URA,
        organisation="Huisartsenpraktijk De Linde",
        fqdn="ec.delinde.example",
        uzi_number="900030003",
        key=new_ec_key(),
    )


@pytest.fixture(scope="session")
def signed(server: Issued) -> bytes:
    return sign_document(server)
