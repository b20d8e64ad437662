from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from tests.support.pki import NOW, issue_server
from zorgid.pki.errors import (
    CertificateCaExpiredError,
    CertificateCardTypeError,
    CertificateCardTypeNotAllowedError,
    CertificateExpiredError,
    CertificateNotUziError,
    CertificateNotYetValidError,
    CertificateRevokedError,
    CertificateUntrustedError,
    CertificateUsageError,
    CertificateWeakKeyError,
    PkiError,
    RevocationUnknownError,
)
from zorgid.pki.revocation import CrlStore, RevocationChecker
from zorgid.pki.testpki import Issued, TestPki, new_ec_key, new_rsa_key
from zorgid.pki.trust import (
    PURPOSE_RULES,
    CertificateValidator,
    Purpose,
    TrustConfig,
    ValidatedCertificate,
    check_card_and_time,
)
from zorgid.pki.uzi import CardType, read_certificate

if TYPE_CHECKING:
    from collections.abc import Sequence

    from zorgid.pki.testpki import PrivateKey, TestCa

DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def server(pki: TestPki) -> Issued:
    return issue_server(pki, key=new_rsa_key())


def crls_of(pki: TestPki, number: int = 1) -> CrlStore:
    return CrlStore(pki.crl(ca, number=number) for ca in pki.cas)


def validator(
    pki: TestPki,
    *,
    anchors: Sequence[x509.Certificate] | None = None,
    intermediates: Sequence[x509.Certificate] | None = None,
    crls: CrlStore | None = None,
    check_revocation: bool = True,
) -> CertificateValidator:
    checker = RevocationChecker(crl_sources=[crls or crls_of(pki)]) if check_revocation else None
    return CertificateValidator(
        TrustConfig(
            anchors=tuple(anchors or (pki.root.certificate,)),
            intermediates=tuple(
                intermediates
                if intermediates is not None
                else (pki.server_ca.certificate, pki.zorgverlener_ca.certificate)
            ),
            revocation=checker,
        )
    )


def validate(
    checker: CertificateValidator,
    certificate: x509.Certificate,
    *,
    at: dt.datetime = NOW,
    purpose: Purpose = Purpose.ORGANISATION_SIGNATURE,
    extra: Sequence[x509.Certificate] = (),
) -> ValidatedCertificate:
    return checker.validate(certificate, extra_intermediates=extra, at=at, purpose=purpose)


# --- what passes ---------------------------------------------------------------------------


def test_server_certificate_chains_to_the_root(pki: TestPki, server: Issued) -> None:
    result = validate(validator(pki), server.certificate)
    assert result.chain == (
        server.certificate,
        pki.server_ca.certificate,
        pki.root.certificate,
    )
    assert result.identity.card_type is CardType.SERVER
    assert result.identity.ura == "90000123"
    assert result.uzi.organisation_name == "Huisartsenpraktijk De Linde"
    assert result.revocation_checked
    assert [s.source for s in result.revocation] == ["crl", "crl"]
    # The test PKI's CRLs (30 days) run out before any certificate does.
    assert result.valid_until == NOW - dt.timedelta(hours=1) + dt.timedelta(days=30)


def test_server_certificate_chains_to_a_pinned_intermediate(pki: TestPki, server: Issued) -> None:
    checker = validator(pki, anchors=[pki.server_ca.certificate], intermediates=())
    result = validate(checker, server.certificate)
    assert result.chain == (server.certificate, pki.server_ca.certificate)
    assert len(result.revocation) == 1  # the pinned anchor itself is trusted by configuration


def test_intermediate_sent_along_with_the_certificate_completes_the_path(
    pki: TestPki, server: Issued
) -> None:
    checker = validator(pki, intermediates=())
    with pytest.raises(CertificateUntrustedError):
        validate(checker, server.certificate)
    result = validate(checker, server.certificate, extra=[pki.server_ca.certificate])
    assert len(result.chain) == 3


def test_ec_p256_certificate_is_accepted(pki: TestPki) -> None:
    leaf = issue_server(pki, key=new_ec_key(ec.SECP256R1())).certificate
    assert validate(validator(pki), leaf).certificate == leaf


def test_pass_certificate_is_accepted_for_pass_authentication(pki: TestPki) -> None:
    issued = pki.issue_pass(
        card_type=CardType.ZORGVERLENER,
        name="J. Bakker",
        organisation="Huisartsenpraktijk De Linde",
        ura="90000123",
        uzi_number="900040001",
        role="01.015",
        key=new_ec_key(),
    )
    result = validate(validator(pki), issued.certificate, purpose=Purpose.PASS_AUTHENTICATION)
    assert result.identity.card_type is CardType.ZORGVERLENER


def test_without_revocation_checking_the_result_says_so(pki: TestPki, server: Issued) -> None:
    result = validate(validator(pki, check_revocation=False), server.certificate)
    assert not result.revocation_checked
    assert result.revocation == ()
    assert result.valid_until == server.certificate.not_valid_after_utc


# --- what fails, each with its own code ----------------------------------------------------


def _rejects(
    error: type[PkiError],
    code: str,
    checker: CertificateValidator,
    certificate: x509.Certificate,
    **kwargs: object,
) -> PkiError:
    with pytest.raises(error) as caught:
        validate(checker, certificate, **kwargs)  # type: ignore[arg-type]
    assert caught.value.code == code
    assert "{" not in caught.value.public_message("en")  # every placeholder has its value
    return caught.value


def test_expired_certificate_is_rejected(pki: TestPki) -> None:
    leaf = issue_server(pki, not_before=NOW - 40 * DAY, not_after=NOW - DAY).certificate
    error = _rejects(CertificateExpiredError, "certificate_expired", validator(pki), leaf)
    assert error.params["not_after"] == "2026-04-30 12:00 UTC"
    assert "2026-04-30 12:00 UTC" in error.public_message("en")


def test_certificate_not_yet_valid_is_rejected(pki: TestPki) -> None:
    leaf = issue_server(pki, not_before=NOW + DAY).certificate
    error = _rejects(CertificateNotYetValidError, "certificate_not_yet_valid", validator(pki), leaf)
    assert error.params["not_before"] == "2026-05-02 12:00 UTC"


def test_certificate_of_another_hierarchy_is_untrusted(pki: TestPki, other_pki: TestPki) -> None:
    leaf = issue_server(other_pki).certificate
    assert leaf.issuer == pki.server_ca.certificate.subject  # same name, other key
    error = _rejects(CertificateUntrustedError, "certificate_untrusted", validator(pki), leaf)
    assert error.params["issuer"] == leaf.issuer.rfc4514_string()


def test_look_alike_intermediate_sent_along_does_not_make_a_path(
    pki: TestPki, other_pki: TestPki
) -> None:
    leaf = issue_server(other_pki).certificate
    _rejects(
        CertificateUntrustedError,
        "certificate_untrusted",
        validator(pki),
        leaf,
        extra=[other_pki.server_ca.certificate],
    )


def test_expired_intermediate_is_reported_as_such() -> None:
    # A hierarchy made ten years ago: its issuing CAs (10 years) ran out a year ago, its root
    # (20 years) did not.
    old = TestPki(now=NOW - 3650 * DAY)
    leaf = issue_server(old, not_before=NOW - DAY, not_after=NOW + 30 * DAY).certificate
    for anchors, intermediates in (
        ([old.root.certificate], [old.server_ca.certificate]),
        ([old.server_ca.certificate], []),
    ):
        checker = validator(old, anchors=anchors, intermediates=intermediates)
        error = _rejects(CertificateCaExpiredError, "certificate_ca_expired", checker, leaf)
        assert "Private Server CA G1" in str(error.params["ca"])
        assert isinstance(error, CertificateUntrustedError)


def test_rsa_1024_certificate_is_weak(pki: TestPki) -> None:
    leaf = issue_server(pki, key=new_rsa_key(1024)).certificate
    error = _rejects(CertificateWeakKeyError, "certificate_weak_key", validator(pki), leaf)
    assert "1024" in str(error.params["reason"])


@pytest.mark.parametrize("curve", [ec.SECP192R1(), ec.SECP224R1()], ids=["P-192", "P-224"])
def test_ec_keys_below_p256_are_weak(pki: TestPki, curve: ec.EllipticCurve) -> None:
    leaf = issue_server(pki, key=ec.generate_private_key(curve)).certificate
    _rejects(CertificateWeakKeyError, "certificate_weak_key", validator(pki), leaf)


def test_ed25519_certificate_is_not_accepted(pki: TestPki) -> None:
    leaf = _plain_leaf(pki.server_ca, key=ed25519.Ed25519PrivateKey.generate())
    error = _rejects(CertificateWeakKeyError, "certificate_weak_key", validator(pki), leaf)
    assert "Ed25519" in str(error.params["reason"])


def test_key_usage_without_digital_signature_is_rejected(pki: TestPki) -> None:
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
    leaf = issue_server(pki, key_usage=usage).certificate
    error = _rejects(CertificateUsageError, "certificate_key_usage", validator(pki), leaf)
    assert "digitalSignature" in str(error.params["reason"])


def test_pass_certificate_is_not_a_server_certificate(pki: TestPki) -> None:
    issued = pki.issue_pass(
        card_type=CardType.ZORGVERLENER,
        name="J. Bakker",
        organisation="Huisartsenpraktijk De Linde",
        ura="90000123",
        uzi_number="900040001",
        role="01.015",
        key=new_ec_key(),
    )
    error = _rejects(
        CertificateCardTypeError, "certificate_not_server", validator(pki), issued.certificate
    )
    assert error.params["card_type"] == "Z"


def test_server_certificate_is_not_a_pass(pki: TestPki, server: Issued) -> None:
    error = _rejects(
        CertificateCardTypeNotAllowedError,
        "certificate_card_type",
        validator(pki),
        server.certificate,
        purpose=Purpose.PASS_AUTHENTICATION,
    )
    assert error.params == {"card_type": "S", "allowed": "M, N, Z"}


def test_certificate_without_uzi_identification_is_rejected(pki: TestPki) -> None:
    leaf = _plain_leaf(pki.server_ca, key=new_ec_key())
    _rejects(CertificateNotUziError, "certificate_not_uzi", validator(pki), leaf)


def test_malformed_uzi_value_keeps_its_own_code(pki: TestPki) -> None:
    leaf = issue_server(pki, uzi_value="not-a-uzi-value").certificate
    with pytest.raises(PkiError) as caught:
        validate(validator(pki), leaf)
    assert caught.value.code.startswith("uzi_")


def test_undecodable_extension_becomes_a_pki_error(pki: TestPki) -> None:
    garbage = x509.UnrecognizedExtension(x509.oid.ExtensionOID.KEY_USAGE, b"\x03\xff")
    leaf = _plain_leaf(pki.server_ca, key=new_ec_key(), extensions=[(garbage, True)])
    with pytest.raises(PkiError):
        validate(validator(pki), leaf)


def test_checks_run_in_order_weak_key_before_expiry(pki: TestPki) -> None:
    leaf = issue_server(pki, key=new_rsa_key(1024), not_after=NOW - DAY, not_before=NOW - 9 * DAY)
    _rejects(CertificateWeakKeyError, "certificate_weak_key", validator(pki), leaf.certificate)


# --- revocation ----------------------------------------------------------------------------


def test_revoked_certificate_is_rejected(pki: TestPki) -> None:
    leaf = issue_server(pki).certificate
    pki.revoke(leaf, at=NOW - dt.timedelta(hours=2))
    checker = validator(pki, crls=crls_of(pki))
    error = _rejects(CertificateRevokedError, "certificate_revoked", checker, leaf)
    assert error.params["revoked_at"] == "2026-05-01 10:00 UTC"


def test_revoked_intermediate_rejects_the_certificates_below_it() -> None:
    own = TestPki(now=NOW)  # revoking a CA must not leak into other tests
    leaf = issue_server(own).certificate
    own.revoke(own.server_ca.certificate, at=NOW - DAY)
    _rejects(CertificateRevokedError, "certificate_revoked", validator(own), leaf)


def test_certificate_revoked_after_the_moment_checked_passes(pki: TestPki) -> None:
    leaf = issue_server(pki).certificate
    pki.revoke(leaf, at=NOW + dt.timedelta(hours=1))
    result = validate(validator(pki, crls=crls_of(pki)), leaf)
    assert result.valid_until < NOW + dt.timedelta(hours=1)


def test_missing_crl_is_revocation_unknown(pki: TestPki, server: Issued) -> None:
    crls = CrlStore([pki.crl(pki.root)])  # the server CA's CRL is missing
    _rejects(
        RevocationUnknownError,
        "certificate_revocation_unknown",
        validator(pki, crls=crls),
        server.certificate,
    )


# --- the cache -----------------------------------------------------------------------------


def test_repeated_validation_is_served_from_the_cache(pki: TestPki, server: Issued) -> None:
    checker = validator(pki)
    first = validate(checker, server.certificate)
    assert validate(checker, server.certificate, at=NOW + dt.timedelta(hours=1)) is first
    # Another purpose or other intermediates are another question.
    with pytest.raises(CertificateCardTypeNotAllowedError):
        validate(checker, server.certificate, purpose=Purpose.PASS_AUTHENTICATION)
    assert validate(checker, server.certificate, extra=[pki.server_ca.certificate]) is not first


def test_cached_result_is_not_used_outside_its_window(pki: TestPki) -> None:
    leaf = issue_server(pki, not_before=NOW - DAY, not_after=NOW + 2 * DAY).certificate
    checker = validator(pki)
    result = validate(checker, leaf)
    assert result.valid_until == NOW + 2 * DAY
    with pytest.raises(CertificateExpiredError):
        validate(checker, leaf, at=NOW + 3 * DAY)
    with pytest.raises(CertificateNotYetValidError):
        validate(checker, leaf, at=NOW - 2 * DAY)


def test_cached_result_is_not_used_once_a_new_crl_revokes_the_certificate(pki: TestPki) -> None:
    leaf = issue_server(pki).certificate
    crls = crls_of(pki)
    checker = validator(pki, crls=crls)
    validate(checker, leaf)
    pki.revoke(leaf, at=NOW - dt.timedelta(minutes=30))
    crls.add(pki.crl(pki.server_ca, number=2))
    _rejects(CertificateRevokedError, "certificate_revoked", checker, leaf)


def test_cached_result_is_not_used_past_a_later_revocation(pki: TestPki) -> None:
    leaf = issue_server(pki).certificate
    pki.revoke(leaf, at=NOW + dt.timedelta(hours=1))
    checker = validator(pki, crls=crls_of(pki))
    validate(checker, leaf)
    _rejects(
        CertificateRevokedError,
        "certificate_revoked",
        checker,
        leaf,
        at=NOW + dt.timedelta(hours=2),
    )


def test_failures_are_not_cached(pki: TestPki) -> None:
    leaf = issue_server(pki).certificate
    crls = CrlStore()
    checker = validator(pki, crls=crls)
    with pytest.raises(RevocationUnknownError):
        validate(checker, leaf)
    crls.replace(pki.crl(ca) for ca in pki.cas)
    assert validate(checker, leaf).certificate == leaf


def test_validator_is_safe_to_share_between_threads(pki: TestPki) -> None:
    leaves = [issue_server(pki).certificate for _ in range(4)]
    checker = validator(pki)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda leaf: validate(checker, leaf), leaves * 8))
    assert [r.certificate for r in results] == leaves * 8


# --- before signing ------------------------------------------------------------------------


def test_local_checks_before_signing_need_no_trust_store(pki: TestPki, server: Issued) -> None:
    info = read_certificate(server.certificate)
    check_card_and_time(server.certificate, info, at=NOW, purpose=Purpose.ORGANISATION_SIGNATURE)
    with pytest.raises(CertificateExpiredError):
        check_card_and_time(
            server.certificate,
            info,
            at=NOW + 4 * 365 * DAY,
            purpose=Purpose.ORGANISATION_SIGNATURE,
        )
    with pytest.raises(CertificateCardTypeNotAllowedError):
        check_card_and_time(server.certificate, info, at=NOW, purpose=Purpose.PASS_AUTHENTICATION)
    plain = _plain_leaf(pki.server_ca, key=new_ec_key())
    with pytest.raises(CertificateNotUziError):
        check_card_and_time(
            plain, read_certificate(plain), at=NOW, purpose=Purpose.ORGANISATION_SIGNATURE
        )


# --- configuration -------------------------------------------------------------------------


def test_trust_config_needs_an_anchor_and_an_explicit_revocation_choice() -> None:
    with pytest.raises(ValueError, match="trust anchor"):
        TrustConfig(anchors=(), revocation=None)
    with pytest.raises(TypeError):
        TrustConfig(anchors=())  # type: ignore[call-arg]


def test_validation_moment_must_carry_a_timezone(pki: TestPki, server: Issued) -> None:
    with pytest.raises(ValueError, match="timezone"):
        validate(validator(pki), server.certificate, at=NOW.replace(tzinfo=None))


def test_every_purpose_has_a_rule() -> None:
    assert set(PURPOSE_RULES) == set(Purpose)
    assert Purpose.ORGANISATION_SIGNATURE.rule.card_types == {CardType.SERVER}


# --- helpers -------------------------------------------------------------------------------


def _plain_leaf(
    ca: TestCa,
    *,
    key: PrivateKey | ed25519.Ed25519PrivateKey,
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
) -> x509.Certificate:
    """A certificate from the right CA but without any UZI otherName."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "plain.example")]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 30 * DAY)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("plain.example")]), critical=False)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(ca.key, hashes.SHA256())
