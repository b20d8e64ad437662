"""Helpers for PKI tests: one moment, and server certificates for the demo organisation."""

from __future__ import annotations

import datetime as dt

from zorgid.pki.testpki import Issued, TestPki, new_ec_key

NOW = dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)


def issue_server(pki: TestPki, **changes: object) -> Issued:
    """A server certificate of the demo organisation, with ``changes`` to the profile.

    EC keys unless told otherwise: generated in microseconds, and most tests do not care.
    """
    changes.setdefault("key", new_ec_key())
    return pki.issue_server(
        ura="90000123",
        organisation="Huisartsenpraktijk De Linde",
        fqdn="his.delinde.example",
        uzi_number="900030001",
        **changes,  # type: ignore[arg-type]
    )
