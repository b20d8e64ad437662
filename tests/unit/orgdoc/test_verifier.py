"""The whole verifier: signer certificate attacks, bindings, replay, and never a crash.

Signature-profile attacks are in test_signature_attacks.py; here the signature is always
genuine and what is wrong is who signed, when, or for what.
"""

from __future__ import annotations

import base64
import datetime as dt
import threading
import warnings
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.orgdoc import (
    CHALLENGE,
    NOW,
    URA,
    document,
    dump,
    find,
    parse,
    resign,
    sign_document,
)
from zorgid.core.clock import FixedClock
from zorgid.errors import ZorgidError
from zorgid.orgdoc.document import DSIG_NS, NS
from zorgid.orgdoc.verify import DocumentVerifier, Expectations, MemoryChallenges
from zorgid.pki.revocation import CrlStore, RevocationChecker
from zorgid.pki.testpki import Issued, TestPki, new_rsa_key
from zorgid.pki.trust import CertificateValidator, TrustConfig
from zorgid.pki.uzi import PRODUCTION, CardType

if TYPE_CHECKING:
    from collections.abc import Callable


def make_verifier(
    pki: TestPki, *, crls: list[x509.CertificateRevocationList] | None = None,
    challenges: MemoryChallenges | None = None,
) -> DocumentVerifier:  # fmt: skip
    config = TrustConfig(
        anchors=(pki.server_ca.certificate,),
        revocation=RevocationChecker(
            crl_sources=(CrlStore(crls if crls is not None else [pki.crl(pki.server_ca)]),)
        ),
    )
    return DocumentVerifier(
        validator=CertificateValidator(config), clock=FixedClock(NOW), challenges=challenges
    )


@pytest.fixture(scope="module")
def verifier(pki: TestPki) -> DocumentVerifier:
    return make_verifier(pki)


def code_of(verifier: DocumentVerifier, data: bytes, **kwargs: object) -> str:
    report = verifier.report(data, **kwargs)  # type: ignore[arg-type]
    assert report.error is not None, "expected a rejection"
    return report.error.code


def issue(pki: TestPki, **kwargs: object) -> Issued:
    defaults: dict[str, object] = {
        "ura": URA, "organisation": "Huisartsenpraktijk De Linde",
        "fqdn": "his.delinde.example", "uzi_number": "900030001",
    }  # fmt: skip
    return pki.issue_server(**{**defaults, **kwargs})  # type: ignore[arg-type]


def test_a_genuine_document_is_accepted_with_its_signed_data(
    verifier: DocumentVerifier, signed: bytes
) -> None:
    verified = verifier.verify(
        signed, expect=Expectations(ura=URA, challenge=CHALLENGE, request_number="ZID-2026-000123")
    )
    assert verified.document.naam == "Huisartsenpraktijk De Linde"
    assert verified.certificate.identity.card_type is CardType.SERVER
    assert verified.signed_xml.startswith(b"<Organisatiedocument")


def test_an_ec_p256_server_certificate_is_accepted(
    verifier: DocumentVerifier, ec_server: Issued
) -> None:
    assert verifier.verify(sign_document(ec_server)).document.ura == URA


# --- key confusion: trust comes only from the configured anchors ----------------------------------


def test_an_attacker_certificate_from_another_hierarchy_is_untrusted(
    verifier: DocumentVerifier,
) -> None:
    attacker = TestPki(now=NOW)  # same names as the real test CAs, other keys
    assert code_of(verifier, sign_document(issue(attacker))) == "certificate_untrusted"


def test_a_self_signed_look_alike_is_untrusted(verifier: DocumentVerifier, pki: TestPki) -> None:
    genuine = issue(pki)
    key = new_rsa_key()
    look_alike = (
        x509.CertificateBuilder()
        .subject_name(genuine.certificate.subject)
        .issuer_name(genuine.certificate.issuer)
        .public_key(key.public_key())
        .serial_number(genuine.certificate.serial_number)
        .not_valid_before(genuine.certificate.not_valid_before_utc)
        .not_valid_after(genuine.certificate.not_valid_after_utc)
    )
    for extension in genuine.certificate.extensions:
        look_alike = look_alike.add_extension(extension.value, critical=extension.critical)
    certificate = look_alike.sign(key, genuine.certificate.signature_hash_algorithm)  # type: ignore[arg-type]
    forged = Issued(certificate=certificate, key=key, chain=genuine.chain)
    assert code_of(verifier, sign_document(forged)) == "certificate_untrusted"


# --- the certificate at verification time ---------------------------------------------------------


def test_an_expired_certificate_is_rejected(verifier: DocumentVerifier, pki: TestPki) -> None:
    old = issue(pki, not_before=NOW - dt.timedelta(days=1000), not_after=NOW - dt.timedelta(days=1))
    assert code_of(verifier, sign_document(old)) == "certificate_expired"


def test_a_not_yet_valid_certificate_is_rejected(verifier: DocumentVerifier, pki: TestPki) -> None:
    future = issue(pki, not_before=NOW + dt.timedelta(days=1))
    assert code_of(verifier, sign_document(future)) == "certificate_not_yet_valid"


def test_a_document_is_judged_at_the_given_time(verifier: DocumentVerifier, signed: bytes) -> None:
    assert code_of(verifier, signed, at=NOW + dt.timedelta(days=4 * 365)) == "certificate_expired"


def test_a_revoked_certificate_is_rejected(pki: TestPki) -> None:
    revoked = issue(pki, fqdn="gestolen.delinde.example", uzi_number="900030077")
    pki.revoke(revoked.certificate, at=NOW - dt.timedelta(hours=2))
    verifier = make_verifier(pki, crls=[pki.crl(pki.server_ca, number=7)])
    assert code_of(verifier, sign_document(revoked)) == "certificate_revoked"


def test_without_revocation_information_the_answer_is_no(pki: TestPki, signed: bytes) -> None:
    verifier = make_verifier(pki, crls=[])
    assert code_of(verifier, signed) == "certificate_revocation_unknown"


def test_a_stale_crl_is_not_relied_on(pki: TestPki, signed: bytes) -> None:
    stale = pki.crl(
        pki.server_ca,
        this_update=NOW - dt.timedelta(days=5),
        next_update=NOW - dt.timedelta(days=3),
    )
    assert code_of(make_verifier(pki, crls=[stale]), signed) == "certificate_revocation_unknown"


def test_a_certificate_without_digital_signature_usage_is_rejected(
    verifier: DocumentVerifier, pki: TestPki
) -> None:
    usage = x509.KeyUsage(
        digital_signature=False, content_commitment=False, key_encipherment=True,
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    assert code_of(verifier, sign_document(issue(pki, key_usage=usage))) == "certificate_key_usage"


def test_an_rsa_1024_key_is_rejected(verifier: DocumentVerifier, pki: TestPki) -> None:
    weak = issue(pki, key=new_rsa_key(1024))
    assert code_of(verifier, sign_document(weak)) == "certificate_weak_key"


@pytest.mark.parametrize(
    ("card_type", "ca"),
    [(CardType.ZORGVERLENER, "zorgverlener_ca"), (CardType.MEDEWERKER_OP_NAAM, "medewerker_ca")],
)
def test_a_uzi_pass_is_not_a_server_certificate(pki: TestPki, card_type: CardType, ca: str) -> None:
    person = pki.issue_pass(
        card_type=card_type, name="J. Bakker", organisation="Huisartsenpraktijk De Linde",
        ura=URA, uzi_number="900040001", role="01.015" if card_type is CardType.ZORGVERLENER
        else "00.000",
    )  # fmt: skip
    ca_certificate = getattr(pki, ca).certificate
    config = TrustConfig(
        anchors=(pki.server_ca.certificate, ca_certificate),
        revocation=RevocationChecker(
            crl_sources=(CrlStore([pki.crl(pki.server_ca), pki.crl(getattr(pki, ca))]),)
        ),
    )
    verifier = DocumentVerifier(validator=CertificateValidator(config), clock=FixedClock(NOW))
    assert code_of(verifier, sign_document(person)) == "certificate_not_server"


def test_a_server_certificate_from_the_pass_ca_is_untrusted_for_organisations(
    verifier: DocumentVerifier, pki: TestPki
) -> None:
    wrong_issuer = issue(pki, ca=pki.zorgverlener_ca)
    assert code_of(verifier, sign_document(wrong_issuer)) == "certificate_untrusted"


# --- binding --------------------------------------------------------------------------------------


def test_a_document_for_another_ura_is_rejected(verifier: DocumentVerifier, server: Issued) -> None:
    data = sign_document(server, document(**{"Organisatie/URA": "90000456"}))
    assert code_of(verifier, data) == "ura_mismatch"


def test_another_organisations_certificate_is_rejected(
    verifier: DocumentVerifier, other_server: Issued
) -> None:
    assert code_of(verifier, sign_document(other_server)) == "ura_mismatch"


@pytest.mark.parametrize(
    ("expect", "code"),
    [
        (Expectations(ura="90000456"), "ura_unexpected"),
        (Expectations(challenge="x" * 43), "challenge_mismatch"),
        (Expectations(request_number="ZID-2026-000999"), "request_mismatch"),
    ],
)
def test_expectations_of_the_request_must_hold(
    verifier: DocumentVerifier, signed: bytes, expect: Expectations, code: str
) -> None:
    assert code_of(verifier, signed, expect=expect) == code


# --- single use: unknown, replayed and expired challenges -----------------------------------------


def test_a_challenge_can_be_redeemed_once(pki: TestPki, signed: bytes) -> None:
    challenges = MemoryChallenges()
    challenges.issue("ZID-2026-000123", CHALLENGE, NOW + dt.timedelta(days=14))
    verifier = make_verifier(pki, challenges=challenges)
    assert verifier.report(signed).valid
    assert code_of(verifier, signed) == "challenge_used"


def test_an_unknown_challenge_is_rejected(pki: TestPki, signed: bytes) -> None:
    challenges = MemoryChallenges()
    challenges.issue("ZID-2026-000123", "another-challenge-of-22-chars", NOW + dt.timedelta(days=1))
    assert code_of(make_verifier(pki, challenges=challenges), signed) == "challenge_unknown"
    assert code_of(make_verifier(pki, challenges=MemoryChallenges()), signed) == "challenge_unknown"


def test_an_expired_challenge_is_rejected(pki: TestPki, signed: bytes) -> None:
    challenges = MemoryChallenges()
    challenges.issue("ZID-2026-000123", CHALLENGE, NOW - dt.timedelta(minutes=1))
    assert code_of(make_verifier(pki, challenges=challenges), signed) == "challenge_expired"


def test_a_rejected_document_does_not_use_up_the_challenge(
    pki: TestPki, signed: bytes, other_server: Issued
) -> None:
    challenges = MemoryChallenges()
    challenges.issue("ZID-2026-000123", CHALLENGE, NOW + dt.timedelta(days=1))
    verifier = make_verifier(pki, challenges=challenges)
    assert code_of(verifier, sign_document(other_server)) == "ura_mismatch"
    assert verifier.report(signed).valid


def test_parallel_replays_redeem_a_challenge_exactly_once(pki: TestPki, signed: bytes) -> None:
    challenges = MemoryChallenges()
    challenges.issue("ZID-2026-000123", CHALLENGE, NOW + dt.timedelta(days=1))
    verifier = make_verifier(pki, challenges=challenges)
    outcomes: list[bool] = []
    barrier = threading.Barrier(20)

    def attempt() -> None:
        barrier.wait()
        outcomes.append(verifier.report(signed).valid)

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count(True) == 1


# --- never a crash --------------------------------------------------------------------------------


def _never_crashes(verifier: DocumentVerifier) -> Callable[[bytes], None]:
    def check(data: bytes) -> None:
        report = verifier.report(data)
        assert isinstance(report.error, ZorgidError)
        assert report.error.code != "internal_error", report.error.detail

    return check


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=2048))
def test_arbitrary_bytes_get_an_answer_never_an_exception(
    verifier: DocumentVerifier, data: bytes
) -> None:
    _never_crashes(verifier)(data)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    position=st.floats(min_value=0, max_value=1),
    junk=st.binary(min_size=1, max_size=16),
    delete=st.integers(min_value=0, max_value=8),
)
def test_mutated_signed_documents_get_a_specific_answer(
    verifier: DocumentVerifier, signed: bytes, position: float, junk: bytes, delete: int
) -> None:
    at = int(position * len(signed))
    report = verifier.report(signed[:at] + junk + signed[at + delete :])
    if report.valid:
        # Only a change outside what is signed (white space after the root) may pass, and then
        # the data read must be exactly the original's.
        assert report.document == verifier.verify(signed).document
    else:
        assert isinstance(report.error, ZorgidError)
        assert report.error.code != "internal_error", report.error.detail


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.text(alphabet=st.characters(codec="utf-8"), max_size=64),
    field=st.sampled_from(
        ["URA", "Naam", "Email", "Aanvraagnummer", "Uitdaging", "Applicatie", "Ondertekend"]
    ),
)
def test_changed_field_values_are_always_caught(
    verifier: DocumentVerifier, signed: bytes, text: str, field: str
) -> None:
    start = signed.index(f"<{field}>".encode()) + len(field) + 2
    end = signed.index(f"</{field}>".encode(), start)
    replacement = text.replace("&", "&amp;").replace("<", "&lt;").encode()
    if replacement == signed[start:end]:
        return
    report = verifier.report(signed[:start] + replacement + signed[end:])
    assert report.error is not None
    assert report.error.code != "internal_error"
    assert report.document is None or report.document.ura == URA


def test_a_production_document_signed_with_a_test_certificate_is_rejected(
    verifier: DocumentVerifier, server: Issued
) -> None:
    data = sign_document(server, document(**{"Aanvraag/Omgeving": "productie"}))
    assert code_of(verifier, data) == "environment_mismatch"


def test_a_production_document_signed_with_a_production_certificate_is_accepted() -> None:
    production = TestPki(now=NOW, profile=PRODUCTION)
    issued = issue(production)
    verifier = make_verifier(production)
    data = sign_document(issued, document(**{"Aanvraag/Omgeving": "productie"}))
    assert verifier.verify(data).certificate.identity.environment == "production"


def test_a_signing_time_the_schema_allows_but_no_clock_has_is_refused(
    verifier: DocumentVerifier, signed: bytes, server: Issued
) -> None:
    root = parse(signed)
    find(root, f"{{{NS}}}Ondertekend").text = "2026-11-28T24:00:00Z"
    assert code_of(verifier, resign(root, server.key)) == "document_schema"


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=3))
def test_damaged_certificates_in_keyinfo_get_a_specific_answer(
    verifier: DocumentVerifier, signed: bytes, flips: list[tuple[float, int]]
) -> None:
    start = signed.index(b"<ds:X509Certificate>") + len(b"<ds:X509Certificate>")
    end = signed.index(b"</ds:X509Certificate>")
    der = bytearray(base64.b64decode(signed[start:end]))
    for position, value in flips:
        der[int(position * (len(der) - 1))] = value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography warns about some damaged certificates
        report = verifier.report(signed[:start] + base64.b64encode(bytes(der)) + signed[end:])
    assert report.error is None or report.error.code != "internal_error", report.error.detail


def _with_malformed_name(certificate: x509.Certificate, part: str) -> bytes:
    der = bytearray(certificate.public_bytes(Encoding.DER))
    name = getattr(certificate, part).public_bytes()
    start = bytes(der).index(name)
    # Turn the first attribute's string type into an INTEGER: still DER, no longer a Name.
    string_tag = next(i for i in range(start, start + len(name)) if der[i] in (0x0C, 0x13))
    der[string_tag] = 0x02
    return bytes(der)


@pytest.mark.parametrize("part", ["subject", "issuer"])
def test_a_signer_certificate_with_a_malformed_name_is_refused(
    verifier: DocumentVerifier, signed: bytes, server: Issued, part: str
) -> None:
    root = parse(signed)
    x509_certificate = next(root.iter(f"{{{DSIG_NS}}}X509Certificate"))
    x509_certificate.text = base64.b64encode(
        _with_malformed_name(server.certificate, part)
    ).decode()
    assert code_of(verifier, dump(root)) == "certificate_malformed"


def test_an_intermediate_with_a_malformed_name_is_refused(
    verifier: DocumentVerifier, pki: TestPki
) -> None:
    data = sign_document(issue(pki, ca=pki.zorgverlener_ca))  # no path: the diagnosis runs
    root = parse(data)
    certificates = list(root.iter(f"{{{DSIG_NS}}}X509Certificate"))
    certificates[1].text = base64.b64encode(
        _with_malformed_name(pki.zorgverlener_ca.certificate, "subject")
    ).decode()
    assert code_of(verifier, dump(root)) == "certificate_untrusted"
