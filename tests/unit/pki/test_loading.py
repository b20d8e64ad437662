from __future__ import annotations

import datetime as dt
import functools
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from zorgid.pki.errors import CertificateFormatError
from zorgid.pki.loading import (
    _looks_like_pkcs12,
    load_certificates,
    load_pkcs12,
    load_private_key,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

PATH = "/tmp/organisation.p12"  # noqa: S108 - only a name shown in messages, never opened
PASSWORD = b"correct horse"
PEM, DER = serialization.Encoding.PEM, serialization.Encoding.DER
PKCS8 = serialization.PrivateFormat.PKCS8


@functools.cache
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def certificate(common_name: str, key: CertificateIssuerPrivateKeyTypes) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=365))
        .sign(key, algorithm)
    )


@functools.cache
def leaf() -> x509.Certificate:
    return certificate("leaf", rsa_key())


@functools.cache
def ca() -> x509.Certificate:
    return certificate("ca", ec_key())


def p12(
    key: pkcs12.PKCS12PrivateKeyTypes | None = None,
    cert: x509.Certificate | None = None,
    cas: list[x509.Certificate] | None = None,
    encryption: serialization.KeySerializationEncryption | None = None,
) -> bytes:
    return pkcs12.serialize_key_and_certificates(
        b"organisation",
        key,
        cert,
        cas,
        encryption or serialization.BestAvailableEncryption(PASSWORD),
    )


def bundle() -> bytes:
    return p12(rsa_key(), leaf(), [ca()])


def assert_unreadable(caught: pytest.ExceptionInfo[CertificateFormatError], code: str) -> None:
    assert caught.value.code == code
    assert caught.value.params["path"] == PATH
    assert PATH in caught.value.public_message("en")
    assert caught.value.exit_code == 2


# --- load_certificates ------------------------------------------------------------------------


def test_a_pem_certificate_loads() -> None:
    assert load_certificates(leaf().public_bytes(PEM), path=PATH) == [leaf()]


def test_every_certificate_of_a_pem_chain_loads_in_file_order() -> None:
    data = leaf().public_bytes(PEM) + ca().public_bytes(PEM)

    assert load_certificates(data, path=PATH) == [leaf(), ca()]


def test_text_and_a_key_around_pem_certificates_are_skipped() -> None:
    key = rsa_key().private_bytes(PEM, PKCS8, serialization.NoEncryption())
    data = b"Bag Attributes\n    friendlyName: leaf\n" + key + leaf().public_bytes(PEM)

    assert load_certificates(data, path=PATH) == [leaf()]


def test_a_der_certificate_loads() -> None:
    assert load_certificates(leaf().public_bytes(DER), path=PATH) == [leaf()]


def test_a_pkcs12_file_gives_its_certificate_first_then_the_others() -> None:
    assert load_certificates(bundle(), path=PATH, password=PASSWORD) == [leaf(), ca()]


def test_a_pkcs12_file_without_password_opens_without_one() -> None:
    data = p12(rsa_key(), leaf(), encryption=serialization.NoEncryption())

    assert load_certificates(data, path=PATH) == [leaf()]


@pytest.mark.parametrize("password", [None, b"wrong", b""])
def test_a_pkcs12_file_with_a_wrong_or_missing_password_says_so(password: bytes | None) -> None:
    with pytest.raises(CertificateFormatError) as caught:
        load_certificates(bundle(), path=PATH, password=password)

    assert_unreadable(caught, "pkcs12_password")


def test_a_legacy_triple_des_pkcs12_file_also_reports_a_wrong_password() -> None:
    legacy = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA1())  # noqa: S303 - the legacy format under test
        .build(PASSWORD)
    )
    data = p12(rsa_key(), leaf(), encryption=legacy)
    assert load_certificates(data, path=PATH, password=PASSWORD) == [leaf()]

    with pytest.raises(CertificateFormatError) as caught:
        load_certificates(data, path=PATH, password=b"wrong")

    assert_unreadable(caught, "pkcs12_password")


def test_a_pkcs12_file_with_only_a_key_holds_no_certificates() -> None:
    with pytest.raises(CertificateFormatError) as caught:
        load_certificates(p12(rsa_key()), path=PATH, password=PASSWORD)

    assert_unreadable(caught, "certificate_unreadable")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\n", id="newline"),
        pytest.param(b"garbage that is no certificate", id="garbage"),
        pytest.param(bytes(range(256)), id="binary"),
        pytest.param(b"\x30\x03\x02\x01\x01", id="der-but-no-certificate"),
        pytest.param(
            b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
            id="pem-with-bad-content",
        ),
        pytest.param(b"-----BEGIN CERTIFICATE-----\nMIIB", id="truncated-pem"),
        pytest.param(
            ec_key().private_bytes(PEM, PKCS8, serialization.NoEncryption()), id="pem-key-only"
        ),
        pytest.param(
            ec_key().private_bytes(DER, PKCS8, serialization.NoEncryption()), id="der-key-only"
        ),
    ],
)
def test_a_file_without_certificates_is_unreadable(data: bytes) -> None:
    with pytest.raises(CertificateFormatError) as caught:
        load_certificates(data, path=PATH, password=PASSWORD)

    assert_unreadable(caught, "certificate_unreadable")


def test_a_truncated_der_certificate_is_unreadable() -> None:
    with pytest.raises(CertificateFormatError) as caught:
        load_certificates(leaf().public_bytes(DER)[:-10], path=PATH)

    assert_unreadable(caught, "certificate_unreadable")


# --- load_private_key -------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", [PEM, DER])
@pytest.mark.parametrize("key_format", [PKCS8, serialization.PrivateFormat.TraditionalOpenSSL])
@pytest.mark.parametrize("make_key", [rsa_key, ec_key])
def test_an_rsa_or_ec_key_loads_from_pem_or_der(
    encoding: serialization.Encoding,
    key_format: serialization.PrivateFormat,
    make_key: Callable[[], rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey],
) -> None:
    key = make_key()
    data = key.private_bytes(encoding, key_format, serialization.NoEncryption())

    loaded = load_private_key(data, path=PATH, password=None)

    assert loaded.private_numbers() == key.private_numbers()


@pytest.mark.parametrize("encoding", [PEM, DER])
def test_an_encrypted_key_loads_with_its_password(encoding: serialization.Encoding) -> None:
    data = ec_key().private_bytes(encoding, PKCS8, serialization.BestAvailableEncryption(PASSWORD))

    loaded = load_private_key(data, path=PATH, password=PASSWORD)

    assert loaded.private_numbers() == ec_key().private_numbers()


@pytest.mark.parametrize("encoding", [PEM, DER])
@pytest.mark.parametrize("password", [None, b"wrong"])
def test_an_encrypted_key_with_a_wrong_or_missing_password_is_unreadable(
    encoding: serialization.Encoding, password: bytes | None
) -> None:
    data = ec_key().private_bytes(encoding, PKCS8, serialization.BestAvailableEncryption(PASSWORD))

    with pytest.raises(CertificateFormatError) as caught:
        load_private_key(data, path=PATH, password=password)

    assert_unreadable(caught, "key_unreadable")


def test_a_password_for_a_plain_key_is_refused_rather_than_ignored() -> None:
    data = ec_key().private_bytes(PEM, PKCS8, serialization.NoEncryption())

    with pytest.raises(CertificateFormatError) as caught:
        load_private_key(data, path=PATH, password=PASSWORD)

    assert_unreadable(caught, "key_unreadable")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"garbage", id="garbage"),
        pytest.param(leaf().public_bytes(PEM), id="pem-certificate"),
        pytest.param(leaf().public_bytes(DER), id="der-certificate"),
        pytest.param(
            ed25519.Ed25519PrivateKey.generate().private_bytes(
                PEM, PKCS8, serialization.NoEncryption()
            ),
            id="ed25519-key",
        ),
    ],
)
def test_a_file_without_an_rsa_or_ec_key_is_unreadable(data: bytes) -> None:
    with pytest.raises(CertificateFormatError) as caught:
        load_private_key(data, path=PATH, password=None)

    assert_unreadable(caught, "key_unreadable")


# --- load_pkcs12 ------------------------------------------------------------------------------


def test_a_pkcs12_file_gives_key_certificate_and_chain() -> None:
    key, cert, chain = load_pkcs12(bundle(), path=PATH, password=PASSWORD)

    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.private_numbers() == rsa_key().private_numbers()
    assert (cert, chain) == (leaf(), [ca()])


@pytest.mark.parametrize("password", [None, b"wrong"])
def test_a_pkcs12_bundle_with_a_wrong_or_missing_password_says_so(password: bytes | None) -> None:
    with pytest.raises(CertificateFormatError) as caught:
        load_pkcs12(bundle(), path=PATH, password=password)

    assert_unreadable(caught, "pkcs12_password")


@pytest.mark.parametrize(
    ("data", "code"),
    [
        pytest.param(b"", "certificate_unreadable", id="empty"),
        pytest.param(b"garbage", "certificate_unreadable", id="garbage"),
        pytest.param(leaf().public_bytes(PEM), "certificate_unreadable", id="pem-certificate"),
        pytest.param(p12(rsa_key()), "certificate_unreadable", id="key-without-certificate"),
        pytest.param(p12(cas=[ca()]), "key_unreadable", id="chain-only"),
        pytest.param(p12(cert=leaf()), "key_unreadable", id="certificate-without-key"),
    ],
)
def test_a_pkcs12_file_lacking_key_or_certificate_is_unreadable(data: bytes, code: str) -> None:
    with pytest.raises(CertificateFormatError) as caught:
        load_pkcs12(data, path=PATH, password=PASSWORD)

    assert_unreadable(caught, code)


def test_a_pkcs12_file_with_an_unsupported_key_type_is_unreadable() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    data = p12(key, certificate("ed25519", key))

    with pytest.raises(CertificateFormatError) as caught:
        load_pkcs12(data, path=PATH, password=PASSWORD)

    assert_unreadable(caught, "key_unreadable")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(bundle(), True, id="pkcs12"),
        pytest.param(b"\x30\x80\x02\x01\x03\x30\x80", True, id="ber-indefinite-length"),
        pytest.param(b"\x30\x82\x01\x00\x02\x01\x03", True, id="long-form-length"),
        pytest.param(leaf().public_bytes(DER), False, id="certificate"),
        pytest.param(
            ec_key().private_bytes(DER, PKCS8, serialization.NoEncryption()), False, id="pkcs8"
        ),
        pytest.param(b"\x30\x03\x02\x01\x02", False, id="version-2"),
        pytest.param(b"\x30", False, id="too-short"),
        pytest.param(b"", False, id="empty"),
    ],
)
def test_only_a_pfx_version_3_header_counts_as_pkcs12(data: bytes, *, expected: bool) -> None:
    assert _looks_like_pkcs12(data) is expected
