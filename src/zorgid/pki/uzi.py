"""The UZI-register certificate profile (CIBG CPS UZI-register v10.x; see domain-facts.md).

The subjectAltName otherName with type-id 2.5.5.5 holds, as a DER IA5String (some test tools use a
UTF8String), ``<OID CA>-<version>-<UZI number>-<card type>-<URA>-<role>-<AGB>``.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography import x509

#: type-id of the UZI otherName in subjectAltName.
UZI_OTHERNAME_OID = x509.ObjectIdentifier("2.5.5.5")
#: Microsoft User Principal Name otherName: ``<UZI number>@<URA>``.
UPN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")
#: RFC 4043 permanentIdentifier otherName: URA with assigner URA_NAMESPACE_OID.
PERMANENT_IDENTIFIER_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.8.3")
#: The OID namespace of URA numbers.
URA_NAMESPACE_OID = "2.16.528.1.1007.3.3"
#: The OID namespace of UZI numbers.
UZI_NAMESPACE_OID = "2.16.528.1.1007.3.1"


class CardType(enum.StrEnum):
    """UZI card types: zorgverlener, medewerker op naam, niet op naam, server."""

    ZORGVERLENER = "Z"
    MEDEWERKER_OP_NAAM = "N"
    MEDEWERKER_NIET_OP_NAAM = "M"
    SERVER = "S"


@dataclass(frozen=True)
class OidProfile:
    """Which CA OIDs mean which card type, in one environment (production or test)."""

    environment: str
    ca_oids: Mapping[str, CardType]
    policy_oids: Mapping[str, str] = field(default_factory=dict)


PRODUCTION = OidProfile(
    environment="production",
    ca_oids={
        "2.16.528.1.1003.1.3.5.5.2": CardType.ZORGVERLENER,
        "2.16.528.1.1003.1.3.5.5.3": CardType.MEDEWERKER_OP_NAAM,
        "2.16.528.1.1003.1.3.5.5.4": CardType.MEDEWERKER_NIET_OP_NAAM,
        "2.16.528.1.1003.1.3.5.5.5": CardType.SERVER,
    },
    policy_oids={
        "2.16.528.1.1003.1.2.5.1": "authentication",
        "2.16.528.1.1003.1.2.5.2": "non-repudiation",
        "2.16.528.1.1003.1.2.5.3": "confidentiality",
        "2.16.528.1.1003.1.2.5.4": "authentication",
        "2.16.528.1.1003.1.2.8.6": "server",
    },
)

TEST = OidProfile(
    environment="test",
    ca_oids={
        "2.16.528.1.1007.99.217": CardType.ZORGVERLENER,
        "2.16.528.1.1007.99.218": CardType.MEDEWERKER_OP_NAAM,
        # Not seen on CIBG test certificates; chosen next to .217/.218 for the test PKI.
        "2.16.528.1.1007.99.219": CardType.MEDEWERKER_NIET_OP_NAAM,
        "2.16.528.1.1007.99.2110": CardType.SERVER,
    },
    policy_oids={
        "2.16.528.1.1007.99.211": "authentication",
        "2.16.528.1.1007.99.212": "non-repudiation",
        "2.16.528.1.1007.99.213": "confidentiality",
    },
)

DEFAULT_PROFILES: tuple[OidProfile, ...] = (PRODUCTION, TEST)


@dataclass(frozen=True)
class Role:
    """A UZI role code ``NN.NNN`` (beroepstitel.specialisme) with its names."""

    code: str
    profession: str | None
    specialism: str | None


@dataclass(frozen=True)
class UziIdentity:
    """The parsed UZI otherName value."""

    oid_ca: str
    version: str
    uzi_number: str
    card_type: CardType
    ura: str
    role: Role
    agb: str
    environment: str

    def value(self) -> str:
        """The otherName text this identity is written as."""
        return "-".join(
            (
                self.oid_ca,
                self.version,
                self.uzi_number,
                self.card_type.value,
                self.ura,
                self.role.code,
                self.agb,
            )
        )


@dataclass(frozen=True)
class PermanentIdentifier:
    """RFC 4043 permanentIdentifier: a value and the OID of its assigner."""

    value: str | None
    assigner: str | None


@dataclass(frozen=True)
class UziCertificate:
    """What zorgid reads from a (UZI) certificate: the ``inspect`` view."""

    subject: str
    issuer: str
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime
    uzi: UziIdentity | None
    upn: str | None
    permanent_identifier: PermanentIdentifier | None
    subject_serial_number: str | None
    organisation_name: str | None
    common_name: str | None


def encode_ia5string(text: str) -> bytes:
    """DER-encode ``text`` as an ASN.1 IA5String (tag 0x16), as CIBG writes the UZI value."""
    return _der_tlv(0x16, text.encode("ascii"))


def encode_utf8string(text: str) -> bytes:
    """DER-encode ``text`` as an ASN.1 UTF8String (tag 0x0C), as some test tools do."""
    return _der_tlv(0x0C, text.encode("utf-8"))


def _der_tlv(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:  # noqa: PLR2004 - DER short-form length limit
        return bytes([tag, length]) + content
    size = (length.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + length.to_bytes(size, "big") + content
