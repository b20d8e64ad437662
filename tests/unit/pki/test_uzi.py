from __future__ import annotations

import datetime as dt
import functools
from typing import TYPE_CHECKING, TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID
from hypothesis import given
from hypothesis import strategies as st

from zorgid.pki.errors import UziConsistencyError, UziFormatError
from zorgid.pki.roles import PROFESSIONS, role_for
from zorgid.pki.uzi import (
    DEFAULT_PROFILES,
    PERMANENT_IDENTIFIER_OID,
    PRODUCTION,
    TEST,
    UPN_OID,
    URA_NAMESPACE_OID,
    UZI_OTHERNAME_OID,
    CardType,
    PermanentIdentifier,
    Role,
    UziCertificate,
    UziIdentity,
    decode_othername_value,
    encode_ia5string,
    encode_utf8string,
    parse_permanent_identifier,
    parse_uzi_value,
    read_certificate,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from zorgid.errors import ZorgidError

Z, N, M, S = (
    CardType.ZORGVERLENER,
    CardType.MEDEWERKER_OP_NAAM,
    CardType.MEDEWERKER_NIET_OP_NAAM,
    CardType.SERVER,
)

# Written out rather than read from the profiles, so that a changed profile fails here.
CA_OIDS = [
    ("2.16.528.1.1003.1.3.5.5.2", Z, "production"),
    ("2.16.528.1.1003.1.3.5.5.3", N, "production"),
    ("2.16.528.1.1003.1.3.5.5.4", M, "production"),
    ("2.16.528.1.1003.1.3.5.5.5", S, "production"),
    ("2.16.528.1.1007.99.217", Z, "test"),
    ("2.16.528.1.1007.99.218", N, "test"),
    ("2.16.528.1.1007.99.219", M, "test"),
    ("2.16.528.1.1007.99.2110", S, "test"),
]
ENCODERS = [encode_ia5string, encode_utf8string]

#: The value of a real CIBG test pass (domain-facts.md).
CIBG_TEST_UZI_VALUE = "2.16.528.1.1007.99.217-1-900016528-Z-90000382-01.000-00000000"
#: A valid production zorgverlener value that the malformed cases below change one field of.
VALID = "2.16.528.1.1003.1.3.5.5.2-1-123456789-Z-12345678-01.015-87654321"
SERVER_VALUE = "2.16.528.1.1007.99.2110-1-900030787-S-90000380-00.000-00000000"

IA5, UTF8, OID, SEQUENCE, EXPLICIT_0 = 0x16, 0x0C, 0x06, 0x30, 0xA0


# --- DER written independently of the code under test -------------------------------------------


def tlv(tag: int, content: bytes) -> bytes:
    if len(content) < 0x80:
        return bytes([tag, len(content)]) + content
    size = (len(content).bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + len(content).to_bytes(size, "big") + content


def encode_oid(dotted: str) -> bytes:
    first, second, *rest = (int(arc) for arc in dotted.split("."))
    content = b""
    for arc in (40 * first + second, *rest):
        octets = [arc & 0x7F]
        arc >>= 7  # noqa: PLW2901 - consuming the arc seven bits at a time
        while arc:
            octets.append(0x80 | (arc & 0x7F))
            arc >>= 7  # noqa: PLW2901 - as above
        content += bytes(reversed(octets))
    return tlv(OID, content)


def permanent_identifier_der(value: str | None, assigner: str | None) -> bytes:
    value_der = b"" if value is None else tlv(UTF8, value.encode())
    assigner_der = b"" if assigner is None else encode_oid(assigner)
    return tlv(SEQUENCE, value_der + assigner_der)


def arabic_indic(text: str) -> str:
    # Digits of another script: str.isdigit() accepts them, the UZI profile does not.
    return text.translate({ord("0") + digit: 0x0660 + digit for digit in range(10)})


def fullwidth(text: str) -> str:
    return text.translate({ord("0") + digit: 0xFF10 + digit for digit in range(10)})


def with_field(index: int, field: str, value: str = VALID) -> str:
    fields = value.split("-")
    fields[index] = field
    return "-".join(fields)


def assert_renders(error: ZorgidError) -> None:
    # Every placeholder of the public message must be filled by the raise site.
    assert "{" not in error.public_message("en")


# --- parse_uzi_value --------------------------------------------------------------------------


@pytest.mark.parametrize(("oid", "card_type", "environment"), CA_OIDS)
@pytest.mark.parametrize("encode", ENCODERS)
def test_every_card_type_of_both_environments_parses_from_both_string_types(
    oid: str, card_type: CardType, environment: str, encode: Callable[[str], bytes]
) -> None:
    role = "01.015" if card_type is Z else "00.000"
    value = f"{oid}-1-123456789-{card_type}-12345678-{role}-87654321"

    identity = parse_uzi_value(decode_othername_value(encode(value)))

    assert identity == UziIdentity(
        oid_ca=oid,
        version="1",
        uzi_number="123456789",
        card_type=card_type,
        ura="12345678",
        role=role_for(role),
        agb="87654321",
        environment=environment,
    )
    assert identity.value() == value


def test_the_value_of_a_real_cibg_test_pass_parses_after_der_decoding() -> None:
    # As cryptography hands it over: the IA5String tag 0x16 and length 0x3D ("=") come first.
    der = b"\x16=" + CIBG_TEST_UZI_VALUE.encode("ascii")

    identity = parse_uzi_value(decode_othername_value(der))

    assert identity == UziIdentity(
        oid_ca="2.16.528.1.1007.99.217",
        version="1",
        uzi_number="900016528",
        card_type=Z,
        ura="90000382",
        role=Role("01.000", "Arts", None),
        agb="00000000",
        environment="test",
    )


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "uzi_field_count"),
        ("-".join(VALID.split("-")[:6]), "uzi_field_count"),
        (f"{VALID}-0", "uzi_field_count"),
        (VALID.replace("-", "--", 1), "uzi_field_count"),
        (VALID.replace("-", "_"), "uzi_field_count"),
        (f"\x16={CIBG_TEST_UZI_VALUE}", "uzi_unknown_oid"),  # the naive read of the DER
        (with_field(0, "2.16.528.1.1003.1.3.5.5.9"), "uzi_unknown_oid"),
        (with_field(0, "2.16.528.1.1003.1.3.5.5"), "uzi_unknown_oid"),
        (with_field(0, " 2.16.528.1.1003.1.3.5.5.2"), "uzi_unknown_oid"),
        (with_field(0, ""), "uzi_unknown_oid"),
        (with_field(1, "2"), "uzi_version"),
        (with_field(1, "01"), "uzi_version"),
        (with_field(1, ""), "uzi_version"),
        (with_field(1, arabic_indic("1")), "uzi_version"),
        (with_field(2, "12345678"), "uzi_number_invalid"),
        (with_field(2, "1234567890"), "uzi_number_invalid"),
        (with_field(2, "12345678a"), "uzi_number_invalid"),
        (with_field(2, "+12345678"), "uzi_number_invalid"),
        (with_field(2, " 12345678"), "uzi_number_invalid"),
        (with_field(2, arabic_indic("123456789")), "uzi_number_invalid"),
        (with_field(2, "12345678" + fullwidth("9")), "uzi_number_invalid"),
        (with_field(2, ""), "uzi_number_invalid"),
        (with_field(3, "z"), "uzi_card_type_invalid"),
        (with_field(3, "X"), "uzi_card_type_invalid"),
        (with_field(3, "ZZ"), "uzi_card_type_invalid"),
        (with_field(3, ""), "uzi_card_type_invalid"),
        (with_field(3, "N"), "uzi_card_type_mismatch"),
        (with_field(3, "S"), "uzi_card_type_mismatch"),
        (with_field(3, "Z", SERVER_VALUE), "uzi_card_type_mismatch"),
        (with_field(4, "1234567"), "uzi_ura_invalid"),
        (with_field(4, "123456789"), "uzi_ura_invalid"),
        (with_field(4, "1234567o"), "uzi_ura_invalid"),
        (with_field(4, fullwidth("12345678")), "uzi_ura_invalid"),
        (with_field(4, ""), "uzi_ura_invalid"),
        (with_field(5, "01015"), "uzi_role_invalid"),
        (with_field(5, "1.015"), "uzi_role_invalid"),
        (with_field(5, "01.15"), "uzi_role_invalid"),
        (with_field(5, "aa.bbb"), "uzi_role_invalid"),
        (with_field(5, arabic_indic("01.015")), "uzi_role_invalid"),
        (with_field(5, ""), "uzi_role_invalid"),
        (with_field(5, "00.000"), "uzi_role_not_allowed"),  # a Z card without profession
        (with_field(5, "00.015"), "uzi_role_not_allowed"),
        (with_field(5, "01.015", SERVER_VALUE), "uzi_role_not_allowed"),
        (with_field(5, "00.001", SERVER_VALUE), "uzi_role_not_allowed"),
        (with_field(6, "1234567"), "uzi_agb_invalid"),
        (with_field(6, "123456789"), "uzi_agb_invalid"),
        (with_field(6, "1234567x"), "uzi_agb_invalid"),
        (with_field(6, arabic_indic("12345678")), "uzi_agb_invalid"),
        (with_field(6, ""), "uzi_agb_invalid"),
        (f"{VALID}\n", "uzi_agb_invalid"),
    ],
)
def test_a_malformed_value_is_refused_with_the_error_of_its_first_bad_field(
    value: str, code: str
) -> None:
    with pytest.raises(UziFormatError) as caught:
        parse_uzi_value(value)

    assert caught.value.code == code
    assert_renders(caught.value)


@pytest.mark.parametrize("card", ["N", "M"])
def test_an_n_or_m_card_with_a_profession_is_refused(card: str) -> None:
    oid = {"N": "2.16.528.1.1003.1.3.5.5.3", "M": "2.16.528.1.1003.1.3.5.5.4"}[card]
    with pytest.raises(UziFormatError) as caught:
        parse_uzi_value(f"{oid}-1-123456789-{card}-12345678-30.000-00000000")

    assert caught.value.code == "uzi_role_not_allowed"
    assert caught.value.params == {"value": "30.000", "card_type": card}


def test_the_card_type_mismatch_names_the_expected_type() -> None:
    with pytest.raises(UziFormatError) as caught:
        parse_uzi_value(with_field(3, "M"))

    assert caught.value.public_message("en") == (
        "The certificate's UZI card type M does not match its CA 2.16.528.1.1003.1.3.5.5.2, "
        "which issues card type Z."
    )


def test_a_test_oid_is_unknown_when_only_production_is_configured() -> None:
    value = with_field(0, "2.16.528.1.1007.99.217")
    assert parse_uzi_value(value).environment == "test"

    with pytest.raises(UziFormatError) as caught:
        parse_uzi_value(value, (PRODUCTION,))

    assert caught.value.code == "uzi_unknown_oid"


def test_the_first_profile_that_knows_an_oid_decides_the_environment() -> None:
    assert parse_uzi_value(VALID, (TEST, PRODUCTION)).environment == "production"
    assert parse_uzi_value(CIBG_TEST_UZI_VALUE, (PRODUCTION, TEST)).environment == "test"


def test_the_default_profiles_are_production_then_test() -> None:
    assert DEFAULT_PROFILES == (PRODUCTION, TEST)


def test_a_malformed_value_is_shown_quoted_so_control_characters_stay_visible() -> None:
    with pytest.raises(UziFormatError) as caught:
        parse_uzi_value(with_field(2, "12345678\x1b"))

    assert "'12345678\\x1b'" in caught.value.public_message("en")


# --- decode_othername_value -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("der", "text"),
    [
        (b"\x16\x00", ""),
        (b"\x0c\x00", ""),
        (b"\x16\x03abc", "abc"),
        (b"\x0c\x03abc", "abc"),
        (b"\x0c\x02\xc3\xa9", "é"),
        (b"\x16\x81\x80" + b"a" * 128, "a" * 128),  # the smallest long-form length
        (b"\x16\x81\xff" + b"b" * 255, "b" * 255),
        (b"\x0c\x82\x01\x00" + b"c" * 256, "c" * 256),
        (b"\xa0\x05\x16\x03abc", "abc"),  # one explicit [0] around the value
        (b"\xa0\x05\x0c\x03abc", "abc"),
    ],
)
def test_a_der_string_decodes_to_its_text(der: bytes, text: str) -> None:
    assert decode_othername_value(der) == text


@pytest.mark.parametrize(
    ("der", "reason"),
    [
        (b"", "truncated before the length"),
        (b"\x16", "truncated before the length"),
        (b"\x16\x05abc", "truncated content"),
        (b"\x16\x81", "truncated length"),
        (b"\x16\x82\x01", "truncated length"),
        (b"\x16\x84\xff\xff\xff\xffabc", "truncated content"),
        (b"\x16\xff" + b"\x01" * 10, "truncated length"),  # 0xFF: the reserved length octet
        (b"\x16\x81\x03abc", "non-minimal length"),  # long form below 128
        (b"\x16\x82\x00\x03abc", "non-minimal length"),  # leading zero octet
        (b"\x16\x82\x00\x80" + b"a" * 128, "non-minimal length"),
        (b"\x16\x80abc\x00\x00", "indefinite length"),
        (b"\x16\x03abcX", "1 trailing byte(s)"),
        (b"\x16\x03abc\x00\x00", "2 trailing byte(s)"),
        (b"\x04\x03abc", "tag 0x04"),  # OCTET STRING
        (b"\x13\x03abc", "tag 0x13"),  # PrintableString
        (b"\x1e\x06\x00a\x00b\x00c", "tag 0x1E"),  # BMPString
        (b"\x36\x05\x16\x03abc", "tag 0x36"),  # constructed IA5String, BER only
        (b"\x1f\x16\x03abc", "multi-octet tag"),
        (b"\x16\x03ab\xe9", "non-ASCII"),
        (b"\x16\x02\xc3\xa9", "non-ASCII"),  # UTF-8 in an IA5String
        (b"\x0c\x02\xc3\x28", "not valid UTF-8"),
        (b"\x0c\x03\xed\xa0\x80", "not valid UTF-8"),  # a surrogate
        (b"\x0c\x02\xc0\x80", "not valid UTF-8"),  # an overlong NUL
        (b"\xa0\x05\x16\x03abcX", "1 trailing byte(s)"),
        (b"\xa0\x04\x16\x03ab", "truncated content"),  # inside the wrapper
        (b"\xa0\x06\x16\x03abcX", "1 trailing byte(s)"),  # inside the wrapper
        (b"\xa0\x00", "truncated before the length"),
        (b"\xa0\x07\xa0\x05\x16\x03abc", "tag 0xA0"),  # wrapped twice
        (b"\xa1\x05\x16\x03abc", "tag 0xA1"),
    ],
)
def test_bytes_that_are_not_a_strict_der_string_are_refused(der: bytes, reason: str) -> None:
    with pytest.raises(UziFormatError) as caught:
        decode_othername_value(der)

    assert caught.value.code == "uzi_encoding"
    assert reason in str(caught.value.params["reason"])
    assert_renders(caught.value)


@pytest.mark.parametrize("encode", ENCODERS)
@pytest.mark.parametrize("size", [0, 1, 127, 128, 255, 256, 65535, 65536])
def test_the_encoders_write_what_the_decoder_reads_at_every_length_boundary(
    encode: Callable[[str], bytes], size: int
) -> None:
    text = "x" * size
    der = encode(text)

    assert der == tlv(der[0], text.encode())
    assert decode_othername_value(der) == text


def test_the_ia5string_encoder_refuses_non_ascii() -> None:
    with pytest.raises(UnicodeEncodeError):
        encode_ia5string("é")


# --- parse_permanent_identifier -----------------------------------------------------------------


def test_a_permanent_identifier_with_value_and_assigner_parses() -> None:
    # SEQUENCE { UTF8String "12345678", OID 2.16.528.1.1007.3.3 }, written out by hand.
    der = bytes.fromhex("3014" + "0c083132333435363738" + "060860841001876f0303")

    assert parse_permanent_identifier(der) == PermanentIdentifier("12345678", URA_NAMESPACE_OID)


@pytest.mark.parametrize(
    ("value", "assigner"),
    [("12345678", None), (None, URA_NAMESPACE_OID), (None, None), ("ä" * 200, "2.999.3")],
)
def test_each_permanent_identifier_field_is_optional(
    value: str | None, assigner: str | None
) -> None:
    der = permanent_identifier_der(value, assigner)

    assert parse_permanent_identifier(der) == PermanentIdentifier(value, assigner)


def test_a_permanent_identifier_inside_an_explicit_tag_parses() -> None:
    der = tlv(EXPLICIT_0, permanent_identifier_der("12345678", URA_NAMESPACE_OID))

    assert parse_permanent_identifier(der) == PermanentIdentifier("12345678", URA_NAMESPACE_OID)


@pytest.mark.parametrize(
    ("content_hex", "dotted"),
    [
        ("2a864886f70d01010b", "1.2.840.113549.1.1.11"),  # sha256WithRSAEncryption
        ("8837" + "03", "2.999.3"),  # X.690 8.19.5: a first arc above 2.39
        ("0992268993f22c640101", "0.9.2342.19200300.100.1.1"),  # userID
        ("550505", "2.5.5.5"),
        ("00", "0.0"),
        ("27", "0.39"),
        ("28", "1.0"),
        ("4f", "1.39"),
        ("50", "2.0"),
        ("8f ff ff ff 7f", "2.4294967215"),
    ],
)
def test_an_object_identifier_decodes_to_its_dotted_form(content_hex: str, dotted: str) -> None:
    der = tlv(SEQUENCE, tlv(OID, bytes.fromhex(content_hex)))

    assert parse_permanent_identifier(der).assigner == dotted


@pytest.mark.parametrize(
    ("der", "reason"),
    [
        (tlv(0x31, b""), "not SEQUENCE"),  # a SET
        (tlv(UTF8, b"12345678"), "not SEQUENCE"),
        (tlv(SEQUENCE, tlv(UTF8, b"1") + tlv(UTF8, b"2")), "other fields"),
        (tlv(SEQUENCE, encode_oid("2.5.5.5") + tlv(UTF8, b"1")), "other fields"),  # wrong order
        (tlv(SEQUENCE, tlv(IA5, b"12345678")), "other fields"),  # RFC 4043 says UTF8String
        (tlv(SEQUENCE, tlv(UTF8, b"1") + encode_oid("2.5.5.5") + b"\x02\x01\x00"), "other fields"),
        (tlv(SEQUENCE, tlv(UTF8, b"\xff")), "not valid UTF-8"),
        (tlv(SEQUENCE, b"\x06\x00"), "truncated OBJECT IDENTIFIER"),
        (tlv(SEQUENCE, b"\x06\x02\x2a\x86"), "truncated OBJECT IDENTIFIER"),
        (tlv(SEQUENCE, b"\x06\x03\x2a\x80\x01"), "non-minimal OBJECT IDENTIFIER"),
        (tlv(SEQUENCE, b"\x06\x02\x80\x01"), "non-minimal OBJECT IDENTIFIER"),
        (tlv(SEQUENCE, b"\x0c\x05abc"), "truncated content"),
        (tlv(SEQUENCE, b"\x0c\x81\x01a"), "non-minimal length"),
        (tlv(SEQUENCE, b"") + b"\x00", "1 trailing byte(s)"),
        (b"\x30\x80\x00\x00", "indefinite length"),
        (b"", "truncated before the length"),
    ],
)
def test_a_malformed_permanent_identifier_is_refused(der: bytes, reason: str) -> None:
    with pytest.raises(UziFormatError) as caught:
        parse_permanent_identifier(der)

    assert caught.value.code == "uzi_encoding"
    assert reason in str(caught.value.params["reason"])


# --- properties -----------------------------------------------------------------------------


A = TypeVar("A")
R = TypeVar("R")


def outcome(function: Callable[[A], R], argument: A) -> R | UziFormatError:
    # Any other exception escapes and fails the property.
    try:
        return function(argument)
    except UziFormatError as error:
        return error


TAGS = st.one_of(
    st.sampled_from([IA5, UTF8, OID, SEQUENCE, EXPLICIT_0, 0x04, 0x13, 0x1F]), st.integers(0, 255)
)


def der_like() -> st.SearchStrategy[bytes]:
    """Nested TLVs that are mostly well-formed, so the decoder gets past its first checks."""
    leaves = st.builds(tlv, TAGS, st.binary(max_size=200) | st.text(max_size=40).map(str.encode))
    trees = st.recursive(
        leaves,
        lambda children: st.builds(
            lambda tag, parts: tlv(tag, b"".join(parts)), TAGS, st.lists(children, max_size=3)
        ),
        max_leaves=6,
    )
    # Then damage some: cut the end off or add bytes.
    return st.builds(
        lambda der, cut, extra: der[: len(der) - cut] + extra,
        trees,
        st.integers(0, 3),
        st.binary(max_size=3),
    )


@given(st.binary(max_size=300) | der_like())
def test_decoding_any_bytes_gives_text_or_a_uzi_format_error(data: bytes) -> None:
    result = outcome(decode_othername_value, data)

    assert isinstance(result, str) or result.code == "uzi_encoding"


@given(st.binary(max_size=300) | der_like())
def test_parsing_any_bytes_as_permanent_identifier_gives_one_or_a_uzi_format_error(
    data: bytes,
) -> None:
    result = outcome(parse_permanent_identifier, data)

    assert isinstance(result, PermanentIdentifier) or result.code == "uzi_encoding"


FIELD_PIECES = st.sampled_from(
    [oid for oid, _, _ in CA_OIDS] + ["1", "Z", "N", "M", "S", "00.000", "01.015", "12345678"]
) | st.text(alphabet="0123456789.ZNMS x" + arabic_indic("1") + fullwidth("9"), max_size=12)


@given(st.text() | st.lists(FIELD_PIECES, max_size=9).map("-".join))
def test_parsing_any_text_gives_an_identity_or_a_uzi_format_error(text: str) -> None:
    result = outcome(parse_uzi_value, text)

    if isinstance(result, UziFormatError):
        assert_renders(result)
    else:
        assert result.value() == text


def digits(count: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=count, max_size=count)


def _has_profession(code: str) -> bool:
    return code != "00"


@st.composite
def identities(draw: st.DrawFn) -> UziIdentity:
    oid, card_type, environment = draw(st.sampled_from(CA_OIDS))
    if card_type is Z:
        profession = draw(st.sampled_from(sorted(PROFESSIONS)) | digits(2).filter(_has_profession))
        role = f"{profession}.{draw(digits(3))}"
    else:
        role = "00.000"
    return UziIdentity(
        oid_ca=oid,
        version="1",
        uzi_number=draw(digits(9)),
        card_type=card_type,
        ura=draw(digits(8)),
        role=role_for(role),
        agb=draw(digits(8)),
        environment=environment,
    )


@given(identities(), st.sampled_from(ENCODERS), st.booleans())
def test_an_identity_survives_encoding_decoding_and_parsing(
    identity: UziIdentity,
    encode: Callable[[str], bytes],
    wrapped: bool,  # noqa: FBT001 - drawn
) -> None:
    der = encode(identity.value())
    if wrapped:
        der = tlv(EXPLICIT_0, der)

    assert parse_uzi_value(decode_othername_value(der)) == identity


@given(st.lists(st.integers(0, 2**70), min_size=1, max_size=8), st.integers(0, 2), st.data())
def test_any_object_identifier_survives_encoding_and_decoding(
    arcs: list[int], first: int, data: st.DataObject
) -> None:
    second = data.draw(st.integers(0, 39) if first < 2 else st.integers(0, 2**70))
    dotted = ".".join(str(arc) for arc in (first, second, *arcs))

    assert parse_permanent_identifier(permanent_identifier_der(None, dotted)).assigner == dotted


# --- read_certificate -------------------------------------------------------------------------

NOT_BEFORE = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
NOT_AFTER = dt.datetime(2028, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
PASS_SUBJECT = [
    x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Huisartsenpraktijk De Linde"),
    x509.NameAttribute(NameOID.COMMON_NAME, "Jansen, J."),
    x509.NameAttribute(NameOID.SERIAL_NUMBER, "900016528"),
]
SERVER_SUBJECT = [
    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Zorggroep Test"),
    x509.NameAttribute(NameOID.COMMON_NAME, "zorgid.example.nl"),
    x509.NameAttribute(NameOID.SERIAL_NUMBER, "900030787"),
]


@functools.cache
def signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make_certificate(
    names: Sequence[x509.GeneralName] | None,
    subject: Sequence[x509.NameAttribute[str]] = PASS_SUBJECT,
    *,
    serial_number: int = 0x0ABCDEF,
    extensions: Sequence[x509.ExtensionType] = (),
) -> x509.Certificate:
    name = x509.Name(subject)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(signing_key().public_key())
        .serial_number(serial_number)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
    )
    if names is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(signing_key(), hashes.SHA256())


def uzi_name(value: str, encode: Callable[[str], bytes] = encode_ia5string) -> x509.OtherName:
    return x509.OtherName(UZI_OTHERNAME_OID, encode(value))


def upn_name(upn: str) -> x509.OtherName:
    return x509.OtherName(UPN_OID, encode_utf8string(upn))


def permanent_name(
    value: str | None = "90000380", assigner: str | None = URA_NAMESPACE_OID
) -> x509.OtherName:
    return x509.OtherName(PERMANENT_IDENTIFIER_OID, permanent_identifier_der(value, assigner))


def test_a_pass_certificate_is_read_completely() -> None:
    cert = make_certificate([uzi_name(CIBG_TEST_UZI_VALUE), upn_name("900016528@90000382")])

    assert read_certificate(cert) == UziCertificate(
        subject=r"serialNumber=900016528,CN=Jansen\, J.,O=Huisartsenpraktijk De Linde,C=NL",
        issuer=r"serialNumber=900016528,CN=Jansen\, J.,O=Huisartsenpraktijk De Linde,C=NL",
        serial="ABCDEF",
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
        uzi=parse_uzi_value(CIBG_TEST_UZI_VALUE),
        upn="900016528@90000382",
        permanent_identifier=None,
        subject_serial_number="900016528",
        organisation_name="Huisartsenpraktijk De Linde",
        common_name="Jansen, J.",
    )


def test_a_server_certificate_with_permanent_identifier_is_read() -> None:
    names = [x509.DNSName("zorgid.example.nl"), uzi_name(SERVER_VALUE), permanent_name()]
    cert = make_certificate(names, SERVER_SUBJECT)

    info = read_certificate(cert)

    assert info.uzi is not None
    assert (info.uzi.card_type, info.uzi.ura, info.uzi.environment) == (S, "90000380", "test")
    assert info.permanent_identifier == PermanentIdentifier("90000380", URA_NAMESPACE_OID)
    assert (info.organisation_name, info.common_name) == ("Zorggroep Test", "zorgid.example.nl")
    assert info.upn is None


@pytest.mark.parametrize("encode", ENCODERS)
def test_the_uzi_value_is_read_in_both_string_types(encode: Callable[[str], bytes]) -> None:
    cert = make_certificate([uzi_name(CIBG_TEST_UZI_VALUE, encode)])

    assert read_certificate(cert).uzi == parse_uzi_value(CIBG_TEST_UZI_VALUE)


def test_validity_is_timezone_aware_utc_and_the_serial_uppercase_hex() -> None:
    info = read_certificate(make_certificate(None, serial_number=0x1F2E3D4C5B6A7988))

    assert info.not_before.utcoffset() == dt.timedelta(0)
    assert info.not_after.utcoffset() == dt.timedelta(0)
    assert info.serial == "1F2E3D4C5B6A7988"


def test_a_certificate_without_subject_alt_name_has_no_uzi_identity() -> None:
    info = read_certificate(make_certificate(None, [PASS_SUBJECT[0]]))

    assert (info.uzi, info.upn, info.permanent_identifier) == (None, None, None)
    assert (info.subject_serial_number, info.organisation_name, info.common_name) == (
        None,
        None,
        None,
    )
    assert info.subject == "C=NL"


def test_a_certificate_whose_alt_names_lack_the_uzi_value_has_no_uzi_identity() -> None:
    # Without a UZI value there is nothing to cross-check the other fields with.
    names = [x509.DNSName("www.example.nl"), upn_name("someone@example.nl"), permanent_name("x")]

    info = read_certificate(make_certificate(names))

    assert info.uzi is None
    assert info.upn == "someone@example.nl"
    assert info.permanent_identifier == PermanentIdentifier("x", URA_NAMESPACE_OID)


def test_a_malformed_uzi_value_in_a_certificate_raises_its_specific_error() -> None:
    cert = make_certificate([uzi_name(with_field(3, "N", CIBG_TEST_UZI_VALUE))])

    with pytest.raises(UziFormatError) as caught:
        read_certificate(cert)

    assert caught.value.code == "uzi_card_type_mismatch"


def test_a_uzi_value_that_is_no_string_type_is_an_encoding_error() -> None:
    cert = make_certificate(
        [x509.OtherName(UZI_OTHERNAME_OID, tlv(0x13, CIBG_TEST_UZI_VALUE.encode()))]
    )

    with pytest.raises(UziFormatError) as caught:
        read_certificate(cert)

    assert caught.value.code == "uzi_encoding"


def test_the_configured_profiles_decide_which_cas_are_known() -> None:
    cert = make_certificate([uzi_name(CIBG_TEST_UZI_VALUE)])

    with pytest.raises(UziFormatError) as caught:
        read_certificate(cert, (PRODUCTION,))

    assert caught.value.code == "uzi_unknown_oid"


def test_a_malformed_subject_alt_name_extension_is_a_uzi_format_error() -> None:
    broken = x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x30\x05\x01")
    cert = make_certificate(None, extensions=[broken])

    with pytest.raises(UziFormatError) as caught:
        read_certificate(cert)

    assert caught.value.code == "uzi_extensions_unreadable"
    assert_renders(caught.value)


@pytest.mark.parametrize(
    ("names", "subject", "code"),
    [
        pytest.param(
            [uzi_name(CIBG_TEST_UZI_VALUE)],
            [*PASS_SUBJECT[:3], x509.NameAttribute(NameOID.SERIAL_NUMBER, "900016529")],
            "uzi_inconsistent_serial_number",
            id="serialNumber-differs",
        ),
        pytest.param(
            [uzi_name(CIBG_TEST_UZI_VALUE), upn_name("900016528@90000383")],
            PASS_SUBJECT,
            "uzi_inconsistent_upn",
            id="upn-other-ura",
        ),
        pytest.param(
            [uzi_name(CIBG_TEST_UZI_VALUE), upn_name("900016528")],
            PASS_SUBJECT,
            "uzi_inconsistent_upn",
            id="upn-without-ura",
        ),
        pytest.param(
            [uzi_name(SERVER_VALUE), permanent_name("90000381")],
            SERVER_SUBJECT,
            "uzi_inconsistent_permanent_identifier",
            id="permanentIdentifier-other-ura",
        ),
        pytest.param(
            [uzi_name(SERVER_VALUE), permanent_name(assigner=UZI_OTHERNAME_OID.dotted_string)],
            SERVER_SUBJECT,
            "uzi_inconsistent_permanent_identifier",
            id="permanentIdentifier-other-assigner",
        ),
        pytest.param(
            [uzi_name(SERVER_VALUE), permanent_name(assigner=None)],
            SERVER_SUBJECT,
            "uzi_inconsistent_permanent_identifier",
            id="permanentIdentifier-without-assigner",
        ),
        pytest.param(
            [uzi_name(SERVER_VALUE), permanent_name(value=None)],
            SERVER_SUBJECT,
            "uzi_inconsistent_permanent_identifier",
            id="permanentIdentifier-without-value",
        ),
        pytest.param(
            [uzi_name(CIBG_TEST_UZI_VALUE), uzi_name(CIBG_TEST_UZI_VALUE, encode_utf8string)],
            PASS_SUBJECT,
            "uzi_multiple_values",
            id="two-uzi-values",
        ),
        pytest.param(
            [uzi_name(CIBG_TEST_UZI_VALUE), upn_name("900016528@90000382"), upn_name("a@b")],
            PASS_SUBJECT,
            "uzi_multiple_values",
            id="two-upns",
        ),
        pytest.param(
            [uzi_name(SERVER_VALUE), permanent_name(), permanent_name()],
            SERVER_SUBJECT,
            "uzi_multiple_values",
            id="two-permanentIdentifiers",
        ),
        pytest.param(
            [uzi_name(CIBG_TEST_UZI_VALUE)],
            [*PASS_SUBJECT, x509.NameAttribute(NameOID.SERIAL_NUMBER, "900016528")],
            "uzi_multiple_values",
            id="two-serialNumbers",
        ),
    ],
)
def test_contradicting_uzi_fields_are_refused(
    names: list[x509.GeneralName], subject: list[x509.NameAttribute[str]], code: str
) -> None:
    with pytest.raises(UziConsistencyError) as caught:
        read_certificate(make_certificate(names, subject))

    assert caught.value.code == code
    assert_renders(caught.value)


def test_a_serial_number_mismatch_names_both_numbers() -> None:
    subject = [*PASS_SUBJECT[:3], x509.NameAttribute(NameOID.SERIAL_NUMBER, "900016529")]

    with pytest.raises(UziConsistencyError) as caught:
        read_certificate(make_certificate([uzi_name(CIBG_TEST_UZI_VALUE)], subject))

    assert caught.value.public_message("en") == (
        "The certificate's subject serialNumber '900016529' differs from its UZI number 900016528."
    )


def test_a_permanent_identifier_mismatch_names_what_was_found_and_expected() -> None:
    names = [uzi_name(SERVER_VALUE), permanent_name(value=None)]

    with pytest.raises(UziConsistencyError) as caught:
        read_certificate(make_certificate(names, SERVER_SUBJECT))

    assert caught.value.public_message("en") == (
        "The certificate's permanentIdentifier (value -, assigner '2.16.528.1.1007.3.3') differs "
        "from its URA 90000380 with assigner 2.16.528.1.1007.3.3."
    )


def test_names_are_written_with_the_registered_short_names() -> None:
    subject = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CIBG"),
        x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, "NTRNL-50000535"),
        x509.NameAttribute(NameOID.COMMON_NAME, "UZI-register Zorgverlener CA G3"),
        x509.NameAttribute(NameOID.TITLE, "Arts"),
        x509.NameAttribute(NameOID.GIVEN_NAME, "Jan"),
        x509.NameAttribute(NameOID.SURNAME, "Jansen"),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, "900016528"),
    ]

    info = read_certificate(make_certificate(None, subject))

    assert info.issuer == (
        "serialNumber=900016528,SN=Jansen,givenName=Jan,title=Arts,"
        "CN=UZI-register Zorgverlener CA G3,organizationIdentifier=NTRNL-50000535,O=CIBG,C=NL"
    )


def test_every_uzi_error_code_is_distinct_and_named_for_uzi() -> None:
    classes = [*UziFormatError.__subclasses__(), *UziConsistencyError.__subclasses__()]
    codes = [cls.code for cls in classes]

    assert len(set(codes)) == len(codes) == 16
    assert all(code.startswith("uzi_") for code in codes)
