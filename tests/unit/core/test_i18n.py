"""Messages render in the person's language, also the reasons built deep inside the cores."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID
from lxml import etree

from tests.support.orgdoc import NOW, URA, ds, dump, find, parse, sign_document
from zorgid.core.i18n import N_, Message, localise, translate
from zorgid.orgdoc.document import parse_document, parse_untrusted
from zorgid.orgdoc.errors import (
    OrgdocError,
    Pkcs11Error,
    Pkcs11ModuleError,
    Pkcs11TokenError,
    SigningError,
)
from zorgid.orgdoc.keys import default_algorithm
from zorgid.orgdoc.pkcs11 import open_pkcs11_signer
from zorgid.orgdoc.signature import SignatureStructureError, signed_content
from zorgid.pki.errors import (
    CertificateUsageError,
    RevocationUnknownError,
    UziEncodingError,
    UziFieldCountError,
)
from zorgid.pki.revocation import CrlStore, RevocationChecker
from zorgid.pki.testpki import TestPki, new_ec_key
from zorgid.pki.trust import Purpose, check_card_and_time
from zorgid.pki.uzi import decode_othername_value, parse_uzi_value, read_certificate

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from zorgid.errors import ZorgidError
    from zorgid.pki.testpki import Issued

# Messages whose translations these tests lean on (all in the Dutch catalogue).
PIN_WRONG = N_("the PIN is wrong")
NO_CRL = N_("no CRL of the issuing CA is configured")


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki(now=NOW)


@pytest.fixture(scope="module")
def server(pki: TestPki) -> Issued:
    return _server(pki)


def _server(pki: TestPki, **changes: object) -> Issued:
    return pki.issue_server(
        ura=URA,
        organisation="Huisartsenpraktijk De Linde",
        fqdn="his.delinde.example",
        uzi_number="900030001",
        key=new_ec_key(),
        **changes,  # type: ignore[arg-type]
    )


def _raised(call: Callable[[], object], kind: type[ZorgidError]) -> ZorgidError:
    with pytest.raises(kind) as caught:
        call()
    return caught.value


def _dutch(error: ZorgidError, *, has: str, lacks: str) -> str:
    """The Dutch message: complete, with the Dutch reason and without the English one."""
    text = error.public_message("nl")
    assert "{" not in text, text
    assert has in text, text
    assert lacks not in text, text
    return text


# --- Message ------------------------------------------------------------------------------


def test_a_message_renders_in_dutch_and_in_english() -> None:
    message = Message(PIN_WRONG)
    assert message.render("nl") == "de PIN is onjuist"
    assert message.render("en") == "the PIN is wrong"


def test_str_of_a_message_is_the_english_text_for_logs() -> None:
    assert str(Message(PIN_WRONG)) == "the PIN is wrong"
    assert f"{Message(PIN_WRONG)}" == "the PIN is wrong"


def test_an_unknown_language_falls_back_to_dutch() -> None:
    assert Message(PIN_WRONG).render("fr") == "de PIN is onjuist"


def test_parameters_are_filled_in_as_data() -> None:
    message = Message(N_("the token reported {error}"), {"error": "CKR_GENERAL_ERROR"})
    assert message.render("nl") == "het token meldde CKR_GENERAL_ERROR"
    assert message.render("en") == "the token reported CKR_GENERAL_ERROR"


def test_a_nested_message_renders_in_the_same_language() -> None:
    inner = Message(N_("the token reported {error}"), {"error": "CKR_DEVICE_ERROR"})
    outer = Message(N_("the CRL issued {issued}: {problem}"), {"issued": "x", "problem": inner})
    assert outer.render("nl") == "de intrekkingslijst van x: het token meldde CKR_DEVICE_ERROR"
    assert outer.render("en") == "the CRL issued x: the token reported CKR_DEVICE_ERROR"


def test_a_tuple_parameter_renders_each_part_and_joins_them() -> None:
    parts = (Message(PIN_WRONG), Message(NO_CRL), "data")
    assert localise(parts, "nl") == (
        "de PIN is onjuist; er is geen intrekkingslijst (CRL) van de uitgevende CA ingesteld; data"
    )


def test_a_message_keeps_its_own_copy_of_the_parameters() -> None:
    params: dict[str, object] = {"error": "A"}
    message = Message(N_("the token reported {error}"), params)
    params["error"] = "B"
    assert str(message) == "the token reported A"
    with pytest.raises(TypeError):
        message.params["error"] = "C"  # type: ignore[index]


def test_messages_with_the_same_text_and_parameters_are_equal() -> None:
    assert Message(PIN_WRONG) == Message(PIN_WRONG)
    assert Message(PIN_WRONG) != Message(NO_CRL)


# --- ZorgidError.public_message -----------------------------------------------------------


def test_any_message_parameter_of_an_error_is_rendered_in_the_language() -> None:
    error = Pkcs11Error(reason=Message(PIN_WRONG))
    assert "de PIN is onjuist" in error.public_message("nl")
    assert "the PIN is wrong" in error.public_message("en")
    # Not only ``reason``: any parameter may be a Message (``present`` may say "none").
    token = Pkcs11TokenError(label="HSM", present=Message(N_("none")), reason=Message(PIN_WRONG))
    assert "Aanwezige tokens: geen." in token.public_message("nl")


def test_a_plain_string_reason_is_still_translated_as_a_msgid() -> None:
    assert "de PIN is onjuist" in Pkcs11Error(reason=PIN_WRONG).public_message("nl")


def test_plain_strings_in_other_parameters_are_data_and_stay_as_they_are() -> None:
    error = Pkcs11ModuleError(module=PIN_WRONG, reason=PIN_WRONG)
    assert "De PKCS#11-module the PIN is wrong kon" in error.public_message("nl")


def test_the_detail_for_the_log_stays_english() -> None:
    error = Pkcs11Error("detail for the log", reason=Message(PIN_WRONG))
    assert error.detail == "detail for the log"
    assert str(error) == "signing_pkcs11: detail for the log"


# --- real errors from the cores, fully in Dutch -------------------------------------------


def test_a_signature_structure_error_reads_dutch(server: Issued) -> None:
    root = parse(sign_document(server))
    signed_info = find(root, ds("Signature"), ds("SignedInfo"))
    signed_info.insert(0, signed_info[1])  # SignatureMethod before CanonicalizationMethod
    error = _raised(lambda: signed_content(dump(root)), SignatureStructureError)
    text = _dutch(error, has="moet precies deze elementen bevatten", lacks="must contain")
    assert "ds:SignedInfo" in text
    assert "CanonicalizationMethod, SignatureMethod, Reference" in text
    assert "must contain exactly" in error.public_message("en")


def test_a_forbidden_attribute_in_the_signature_reads_dutch(server: Issued) -> None:
    root = parse(sign_document(server))
    find(root, ds("Signature"), ds("SignedInfo")).set("Id", "x")
    error = _raised(lambda: signed_content(dump(root)), OrgdocError)
    _dutch(
        error, has="heeft attributen die het handtekeningprofiel niet toestaat (Id)", lacks="allow"
    )


def test_revocation_unknown_without_any_crl_reads_dutch(pki: TestPki, server: Issued) -> None:
    checker = RevocationChecker(crl_sources=[CrlStore()])
    error = _raised(
        lambda: checker.check(server.certificate, pki.server_ca.certificate, NOW),
        RevocationUnknownError,
    )
    text = _dutch(error, has="geen actuele intrekkingslijst (CRL)", lacks="configured")
    assert "er is geen intrekkingslijst (CRL) van de uitgevende CA ingesteld" in text
    assert "issuing" not in text
    assert "no CRL of the issuing CA is configured" in error.public_message("en")
    assert "no CRL of the issuing CA is configured" in error.detail


def test_revocation_unknown_with_an_expired_crl_names_the_problem_in_dutch(
    pki: TestPki, server: Issued
) -> None:
    expired = pki.crl(pki.server_ca, number=1)
    assert expired.next_update_utc is not None
    later = expired.next_update_utc + dt.timedelta(hours=1)
    checker = RevocationChecker(crl_sources=[CrlStore([expired])])
    error = _raised(
        lambda: checker.check(server.certificate, pki.server_ca.certificate, later),
        RevocationUnknownError,
    )
    text = _dutch(error, has="is verlopen op", lacks="expired")
    assert "de intrekkingslijst van" in text
    assert "the moment checked" not in text


def test_a_uzi_value_with_too_few_fields_reads_dutch() -> None:
    error = _raised(lambda: parse_uzi_value("2.16.528.1.1003.1.3.5.5.5-1"), UziFieldCountError)
    _dutch(error, has="2 delen", lacks="parts")


def test_a_der_encoding_error_in_a_uzi_value_reads_dutch() -> None:
    error = _raised(lambda: decode_othername_value(b"\x16\x05abc"), UziEncodingError)
    _dutch(error, has="(afgekapte inhoud)", lacks="truncated")
    error = _raised(lambda: decode_othername_value(b"\x04\x03abc"), UziEncodingError)
    _dutch(error, has="tag 0x04 waar een IA5String of UTF8String werd verwacht", lacks="expected")


def test_a_key_usage_error_reads_dutch_including_the_purpose(pki: TestPki) -> None:
    usage = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=True,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    leaf = _server(pki, key_usage=usage).certificate
    error = _raised(
        lambda: check_card_and_time(
            leaf, read_certificate(leaf), at=NOW, purpose=Purpose.ORGANISATION_SIGNATURE
        ),
        CertificateUsageError,
    )
    text = _dutch(error, has="het ondertekenen van het organisatiedocument", lacks="signing the")
    assert "bevat geen digitalSignature" in text


def test_a_missing_pkcs11_module_reads_dutch(tmp_path: Path) -> None:
    module = str(tmp_path / "missing-pkcs11.so")
    error = _raised(lambda: open_pkcs11_signer(module, "token", "key", None), Pkcs11ModuleError)
    _dutch(error, has="het bestand bestaat niet", lacks="does not exist")


def test_a_document_that_is_not_well_formed_reads_dutch() -> None:
    error = _raised(lambda: parse_untrusted(b"<a>\n<b></a>"), OrgdocError)
    assert error.code == "document_not_well_formed"
    # libxml2's own description stays English (data); the words around it are Dutch.
    _dutch(error, has="(regel 2: ", lacks="(line 2:")


def test_a_document_with_another_root_element_reads_dutch() -> None:
    data = etree.tostring(etree.Element("{urn:zorgid:organisatiedocument:1}Iets"))
    error = _raised(lambda: parse_document(data), OrgdocError)
    _dutch(error, has="het hoofdelement is 'Iets', niet Organisatiedocument", lacks="root")


def test_signing_with_an_unsupported_key_reads_dutch() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ed25519")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=1))
        .sign(key, None)
    )
    error = _raised(lambda: default_algorithm(certificate), SigningError)
    _dutch(error, has="geen RSA- en geen EC-sleutel", lacks="neither")


def test_the_catalogue_has_the_messages_these_tests_rely_on() -> None:
    assert translate(PIN_WRONG, "nl") != PIN_WRONG
    assert translate(NO_CRL, "nl") != NO_CRL
