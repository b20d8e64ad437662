"""The UZI-register certificate profile (CIBG CPS UZI-register v10.x; see domain-facts.md).

The subjectAltName otherName with type-id 2.5.5.5 holds, as a DER IA5String (some test tools use a
UTF8String), ``<OID CA>-<version>-<UZI number>-<card type>-<URA>-<role>-<AGB>``.

The otherName values are decoded by a small strict DER reader (ITU-T X.690 section 10) written
here rather than a general ASN.1 library: it reads only the handful of types the profile uses and
refuses everything else.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from cryptography import x509
from cryptography.x509.oid import NameOID

from zorgid.core.i18n import N_, Message
from zorgid.pki.errors import (
    UziAgbError,
    UziCardTypeError,
    UziCardTypeMismatchError,
    UziEncodingError,
    UziExtensionsError,
    UziFieldCountError,
    UziMultipleValuesError,
    UziNumberError,
    UziPermanentIdentifierMismatchError,
    UziRoleNotAllowedError,
    UziSerialNumberMismatchError,
    UziUnknownOidError,
    UziUpnMismatchError,
    UziUraError,
    UziVersionError,
)
from zorgid.pki.roles import NO_PROFESSION, Role, role_for

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Mapping, Sequence

__all__ = [
    "DEFAULT_PROFILES",
    "PERMANENT_IDENTIFIER_OID",
    "PRODUCTION",
    "TEST",
    "UPN_OID",
    "URA_NAMESPACE_OID",
    "UZI_NAMESPACE_OID",
    "UZI_OTHERNAME_OID",
    "CardType",
    "OidProfile",
    "PermanentIdentifier",
    # Defined beside its code tables in roles.py (which this module needs), part of this profile.
    "Role",
    "UziCertificate",
    "UziIdentity",
    "decode_othername_value",
    "encode_ia5string",
    "encode_utf8string",
    "parse_permanent_identifier",
    "parse_uzi_value",
    "read_certificate",
]

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
        fields = (
            self.oid_ca,
            self.version,
            self.uzi_number,
            self.card_type.value,
            self.ura,
            self.role.code,
            self.agb,
        )
        return "-".join(fields)


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


# --- the UZI value ----------------------------------------------------------------------------

_UZI_FIELD_COUNT = 7
_UZI_VERSION = "1"
_NO_ROLE = "00.000"
# [0-9] rather than \d: \d also matches digits of other scripts, which UZI never uses.
_UZI_NUMBER = re.compile(r"[0-9]{9}")
_URA = re.compile(r"[0-9]{8}")
_AGB = re.compile(r"[0-9]{8}")


def parse_uzi_value(text: str, profiles: Sequence[OidProfile] = DEFAULT_PROFILES) -> UziIdentity:
    """Parse ``OID-version-UZI number-card type-URA-role-AGB``; raises a UziFormatError."""
    fields = text.split("-")
    if len(fields) != _UZI_FIELD_COUNT:
        raise UziFieldCountError(f"{len(fields)} fields in {text!r}", count=len(fields))
    oid_ca, version, uzi_number, card_type_text, ura, role_code, agb = fields
    expected_type, environment = _card_type_of_ca(oid_ca, profiles)
    if version != _UZI_VERSION:
        raise UziVersionError(f"version {version!r}", value=repr(version))
    if not _UZI_NUMBER.fullmatch(uzi_number):
        raise UziNumberError(f"UZI number {uzi_number!r}", value=repr(uzi_number))
    try:
        card_type = CardType(card_type_text)
    except ValueError:
        raise UziCardTypeError(
            f"card type {card_type_text!r}", value=repr(card_type_text)
        ) from None
    if card_type is not expected_type:
        raise UziCardTypeMismatchError(
            f"card type {card_type} under CA {oid_ca} ({expected_type})",
            card_type=card_type.value,
            oid=oid_ca,
            expected=expected_type.value,
        )
    if not _URA.fullmatch(ura):
        raise UziUraError(f"URA {ura!r}", value=repr(ura))
    role = role_for(role_code)
    if not _role_fits(role, card_type):
        raise UziRoleNotAllowedError(
            f"role {role_code} on card type {card_type}", value=role_code, card_type=card_type.value
        )
    if not _AGB.fullmatch(agb):
        raise UziAgbError(f"AGB {agb!r}", value=repr(agb))
    return UziIdentity(
        oid_ca=oid_ca,
        version=version,
        uzi_number=uzi_number,
        card_type=card_type,
        ura=ura,
        role=role,
        agb=agb,
        environment=environment,
    )


def _card_type_of_ca(oid: str, profiles: Sequence[OidProfile]) -> tuple[CardType, str]:
    # The first profile that knows the OID wins, so a caller decides by the order it passes.
    for profile in profiles:
        card_type = profile.ca_oids.get(oid)
        if card_type is not None:
            return card_type, profile.environment
    environments = ", ".join(profile.environment for profile in profiles)
    raise UziUnknownOidError(f"CA OID {oid!r} not in: {environments}", oid=repr(oid))


def _role_fits(role: Role, card_type: CardType) -> bool:
    # A zorgverlener is registered with a profession; the other card types carry no role at all.
    if card_type is CardType.ZORGVERLENER:
        return not role.code.startswith(f"{NO_PROFESSION}.")
    return role.code == _NO_ROLE


# --- subjectAltName otherName values ----------------------------------------------------------


def decode_othername_value(der: bytes) -> str:
    """Decode an otherName value (strict DER IA5String or UTF8String); raises UziEncodingError."""
    tlv = _read_value(der)
    if tlv.tag == _IA5STRING:
        if not tlv.content.isascii():
            raise _malformed(N_("an IA5String holds a non-ASCII byte"))
        return tlv.content.decode("ascii")
    if tlv.tag == _UTF8STRING:
        return _decode_utf8(tlv.content)
    raise _malformed(
        Message(
            N_("tag {tag} where an IA5String or UTF8String was expected"),
            {"tag": f"0x{tlv.tag:02X}"},
        )
    )


def parse_permanent_identifier(der: bytes) -> PermanentIdentifier:
    """Decode an RFC 4043 permanentIdentifier otherName value; raises UziEncodingError."""
    sequence = _read_value(der)
    if sequence.tag != _SEQUENCE:
        raise _malformed(
            Message(
                N_("the permanentIdentifier has tag {tag}, not SEQUENCE"),
                {"tag": f"0x{sequence.tag:02X}"},
            )
        )
    elements = _read_all(sequence.content)
    # RFC 4043 section 2: SEQUENCE { identifierValue UTF8String OPTIONAL, assigner OID OPTIONAL }.
    tags = [element.tag for element in elements]
    if tags not in ([], [_UTF8STRING], [_OBJECT_IDENTIFIER], [_UTF8STRING, _OBJECT_IDENTIFIER]):
        raise _malformed(
            N_("the permanentIdentifier holds other fields than identifierValue and assigner")
        )
    value = next((_decode_utf8(e.content) for e in elements if e.tag == _UTF8STRING), None)
    assigner = next((_decode_oid(e.content) for e in elements if e.tag == _OBJECT_IDENTIFIER), None)
    return PermanentIdentifier(value=value, assigner=assigner)


# --- certificates -----------------------------------------------------------------------------

# RFC 4514 section 2.3 allows the registered short names; cryptography knows only the common ones.
_ATTRIBUTE_NAMES = {
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
    NameOID.TITLE: "title",
    NameOID.GIVEN_NAME: "givenName",
    NameOID.SURNAME: "SN",
}
_T = TypeVar("_T")


def read_certificate(
    cert: x509.Certificate, profiles: Sequence[OidProfile] = DEFAULT_PROFILES
) -> UziCertificate:
    """Read a certificate's identity and cross-check its UZI fields; raises a Uzi*Error."""
    other_names = _other_names(cert)
    uzi_der = _single_other_name(other_names, UZI_OTHERNAME_OID, "otherName 2.5.5.5 (UZI)")
    upn_der = _single_other_name(other_names, UPN_OID, "otherName 1.3.6.1.4.1.311.20.2.3 (UPN)")
    permanent_der = _single_other_name(
        other_names,
        PERMANENT_IDENTIFIER_OID,
        "otherName 1.3.6.1.5.5.7.8.3 (permanentIdentifier)",
    )
    subject = _subject_texts(cert)
    serial_number = _at_most_one(subject.get(NameOID.SERIAL_NUMBER, []), "subject serialNumber")
    uzi = None if uzi_der is None else parse_uzi_value(decode_othername_value(uzi_der), profiles)
    upn = None if upn_der is None else decode_othername_value(upn_der)
    permanent = None if permanent_der is None else parse_permanent_identifier(permanent_der)
    if uzi is not None:
        _cross_check(uzi, serial_number=serial_number, upn=upn, permanent_identifier=permanent)
    return UziCertificate(
        subject=_name_text(cert.subject),
        issuer=_name_text(cert.issuer),
        serial=f"{cert.serial_number:X}",
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        uzi=uzi,
        upn=upn,
        permanent_identifier=permanent,
        subject_serial_number=serial_number,
        organisation_name=next(iter(subject.get(NameOID.ORGANIZATION_NAME, [])), None),
        common_name=next(iter(subject.get(NameOID.COMMON_NAME, [])), None),
    )


def _other_names(cert: x509.Certificate) -> list[x509.OtherName]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        # cryptography decodes all extensions on first access and reports bad DER as ValueError.
        raise UziExtensionsError(str(exc)) from exc
    return san.value.get_values_for_type(x509.OtherName)


def _single_other_name(
    names: Sequence[x509.OtherName], type_id: x509.ObjectIdentifier, field_name: str
) -> bytes | None:
    return _at_most_one([name.value for name in names if name.type_id == type_id], field_name)


def _subject_texts(cert: x509.Certificate) -> dict[x509.ObjectIdentifier, list[str]]:
    # One pass over the subject. Only bit-string attributes (x500UniqueIdentifier) are bytes;
    # the ones read here are text.
    texts: dict[x509.ObjectIdentifier, list[str]] = {}
    for attribute in cert.subject:
        if isinstance(attribute.value, str):
            texts.setdefault(attribute.oid, []).append(attribute.value)
    return texts


@functools.lru_cache(maxsize=1024)
def _name_text(name: x509.Name) -> str:
    # Formatting a Name is slow Python in cryptography, and issuers repeat on every certificate.
    return name.rfc4514_string(_ATTRIBUTE_NAMES)


def _at_most_one(values: Sequence[_T], field_name: str) -> _T | None:
    # Two values for one identifying field leave it open which one counts: refuse to choose.
    if len(values) > 1:
        raise UziMultipleValuesError(
            f"{len(values)} values for {field_name}", count=len(values), field=field_name
        )
    return values[0] if values else None


def _cross_check(
    uzi: UziIdentity,
    *,
    serial_number: str | None,
    upn: str | None,
    permanent_identifier: PermanentIdentifier | None,
) -> None:
    if serial_number is not None and serial_number != uzi.uzi_number:
        raise UziSerialNumberMismatchError(
            f"serialNumber {serial_number!r} != UZI number {uzi.uzi_number}",
            serial_number=repr(serial_number),
            uzi_number=uzi.uzi_number,
        )
    expected_upn = f"{uzi.uzi_number}@{uzi.ura}"
    if upn is not None and upn != expected_upn:
        raise UziUpnMismatchError(
            f"UPN {upn!r} != {expected_upn}", upn=repr(upn), expected=expected_upn
        )
    expected_identifier = PermanentIdentifier(value=uzi.ura, assigner=URA_NAMESPACE_OID)
    if permanent_identifier is not None and permanent_identifier != expected_identifier:
        raise UziPermanentIdentifierMismatchError(
            f"{permanent_identifier} != {expected_identifier}",
            value=_shown(permanent_identifier.value),
            assigner=_shown(permanent_identifier.assigner),
            ura=uzi.ura,
            expected_assigner=URA_NAMESPACE_OID,
        )


def _shown(text: str | None) -> str:
    return "-" if text is None else repr(text)


# --- strict DER (ITU-T X.690 section 10) ------------------------------------------------------

_IA5STRING = 0x16
_UTF8STRING = 0x0C
_OBJECT_IDENTIFIER = 0x06
_SEQUENCE = 0x30
_EXPLICIT_0 = 0xA0  # context-specific, constructed, tag number 0
_HIGH_TAG_NUMBER = 0x1F
_LONG_LENGTH = 0x80
_MORE_OCTETS = 0x80  # base-128 OID arcs: set on every octet but an arc's last


class _Tlv(NamedTuple):
    tag: int
    content: bytes
    end: int  # offset just past this TLV in the data it was read from


def encode_ia5string(text: str) -> bytes:
    """DER-encode ``text`` as an ASN.1 IA5String (tag 0x16), as CIBG writes the UZI value."""
    return _der_tlv(_IA5STRING, text.encode("ascii"))


def encode_utf8string(text: str) -> bytes:
    """DER-encode ``text`` as an ASN.1 UTF8String (tag 0x0C), as some test tools do."""
    return _der_tlv(_UTF8STRING, text.encode("utf-8"))


def _der_tlv(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < _LONG_LENGTH:
        return bytes([tag, length]) + content
    size = (length.bit_length() + 7) // 8
    return bytes([tag, _LONG_LENGTH | size]) + length.to_bytes(size, "big") + content


def _read_value(der: bytes) -> _Tlv:
    tlv = _read_one(der)
    # Some encoders repeat the otherName's [0] EXPLICIT wrapper inside the value: unwrap one.
    return _read_one(tlv.content) if tlv.tag == _EXPLICIT_0 else tlv


def _read_one(data: bytes) -> _Tlv:
    tlv = _read_tlv(data, 0)
    if tlv.end != len(data):
        raise _malformed(
            Message(N_("{count} trailing byte(s) after the value"), {"count": len(data) - tlv.end})
        )
    return tlv


def _read_all(data: bytes) -> list[_Tlv]:
    elements: list[_Tlv] = []
    offset = 0
    while offset < len(data):
        element = _read_tlv(data, offset)
        elements.append(element)
        offset = element.end
    return elements


def _read_tlv(data: bytes, offset: int) -> _Tlv:
    if len(data) - offset < 2:  # noqa: PLR2004 - a tag octet and a length octet
        raise _malformed(N_("truncated before the length"))
    tag, first = data[offset], data[offset + 1]
    if tag & _HIGH_TAG_NUMBER == _HIGH_TAG_NUMBER:
        raise _malformed(N_("multi-octet tag"))  # none of the types read here has one
    start = offset + 2
    if first < _LONG_LENGTH:
        length = first
    elif first == _LONG_LENGTH:
        raise _malformed(N_("indefinite length, which DER forbids"))
    else:
        size = first & ~_LONG_LENGTH
        length_octets = data[start : start + size]
        if len(length_octets) < size:
            raise _malformed(N_("truncated length"))
        length = int.from_bytes(length_octets, "big")
        # X.690 10.1: the fewest length octets, and the short form whenever it fits.
        if length_octets[0] == 0 or length < _LONG_LENGTH:
            raise _malformed(N_("non-minimal length encoding"))
        start += size
    end = start + length
    if end > len(data):
        raise _malformed(N_("truncated content"))
    return _Tlv(tag, data[start:end], end)


def _decode_utf8(content: bytes) -> str:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed(N_("a UTF8String is not valid UTF-8")) from None


def _decode_oid(content: bytes) -> str:
    # X.690 8.19: base-128 arcs, high bit set on all octets of an arc but its last; the first
    # arc packs the first two components as 40 * X + Y.
    if not content or content[-1] & _MORE_OCTETS:
        raise _malformed(N_("truncated OBJECT IDENTIFIER"))
    arcs: list[int] = []
    arc = 0
    starts_arc = True
    for octet in content:
        if starts_arc and octet == _MORE_OCTETS:
            raise _malformed(N_("non-minimal OBJECT IDENTIFIER arc"))
        arc = (arc << 7) | (octet & ~_MORE_OCTETS)
        starts_arc = not octet & _MORE_OCTETS
        if starts_arc:
            arcs.append(arc)
            arc = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(number) for number in (first, arcs[0] - 40 * first, *arcs[1:]))


def _malformed(reason: Message | str) -> UziEncodingError:
    """The error for bytes that are not strict DER; ``reason`` is a Message or an N_ msgid."""
    return UziEncodingError(str(reason), reason=reason)
