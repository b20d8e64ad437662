from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pkcs11 import Mechanism
from pkcs11 import exceptions as p11

from tests.softhsm import (
    EC384_LABEL,
    EC_LABEL,
    LABEL_ONLY_LABEL,
    NO_CERTIFICATE_LABEL,
    NO_SIGN_LABEL,
    RSA_LABEL,
    TOKEN_LABEL,
    TWIN_LABEL,
    SoftHsmToken,
)
from zorgid.orgdoc.errors import Pkcs11Error
from zorgid.orgdoc.keys import SignatureAlgorithm, Signer, SoftwareSigner
from zorgid.orgdoc.pkcs11 import Pkcs11Signer, _failure, _Plan, _plan, open_pkcs11_signer
from zorgid.pki.testpki import new_ec_key

if TYPE_CHECKING:
    from pathlib import Path

    from cryptography import x509

DATA = b"<SignedInfo>canonical bytes to sign</SignedInfo>"


def open_signer(
    token: SoftHsmToken,
    key_label: str,
    *,
    pin: str | None = "1234",
    certificate: x509.Certificate | None = None,
) -> Pkcs11Signer:
    return open_pkcs11_signer(token.module, token.label, key_label, pin, certificate=certificate)


def verify_xmldsig(
    certificate: x509.Certificate, signature: bytes, data: bytes, algorithm: SignatureAlgorithm
) -> None:
    """Verify a SignatureValue as a verifier would: PKCS#1 v1.5, or ECDSA r||s (RFC 4050)."""
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, data, padding.PKCS1v15(), algorithm.hash())
        return
    assert isinstance(key, ec.EllipticCurvePublicKey)
    size = (key.curve.key_size + 7) // 8
    assert len(signature) == 2 * size
    r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
    key.verify(encode_dss_signature(r, s), data, ec.ECDSA(algorithm.hash()))


def failure(
    excinfo: pytest.ExceptionInfo[Pkcs11Error], code: str, *, mentions: tuple[str, ...] = ()
) -> str:
    """Check the error's code and that its messages render; return the English message."""
    error = excinfo.value
    assert error.code == code
    assert error.exit_code == 2
    assert "reason" in error.params
    error.public_message("nl")  # every placeholder of the template is filled
    message = error.public_message("en")
    for text in mentions:
        assert text in message
    return message


# --- signing ---------------------------------------------------------------------------------


def test_rsa_key_on_token_signs_exactly_as_the_software_signer(softhsm_token: SoftHsmToken) -> None:
    issued = softhsm_token.keys[RSA_LABEL]
    with open_signer(softhsm_token, RSA_LABEL) as signer:
        as_protocol: Signer = signer  # the type checker holds it to the Signer protocol
        signature = as_protocol.sign(DATA)
        assert as_protocol.algorithm is SignatureAlgorithm.RSA_SHA256
        assert as_protocol.certificate == issued.certificate

    verify_xmldsig(issued.certificate, signature, DATA, SignatureAlgorithm.RSA_SHA256)
    software = SoftwareSigner(key=issued.key, certificate=issued.certificate)
    assert signature == software.sign(DATA)  # PKCS#1 v1.5 is deterministic


def test_chain_holds_the_intermediate_on_the_token_but_not_the_root(
    softhsm_token: SoftHsmToken,
) -> None:
    with open_signer(softhsm_token, RSA_LABEL) as signer:
        assert signer.chain == (softhsm_token.pki.server_ca.certificate,)
    with open_signer(softhsm_token, EC_LABEL) as signer:
        assert signer.chain == (softhsm_token.pki.server_ca.certificate,)


@pytest.mark.parametrize(
    ("label", "algorithm", "length"),
    [
        (EC_LABEL, SignatureAlgorithm.ECDSA_SHA256, 64),
        (EC384_LABEL, SignatureAlgorithm.ECDSA_SHA384, 96),
    ],
)
def test_ec_key_on_token_signs_in_xmldsig_r_s_form(
    softhsm_token: SoftHsmToken, label: str, algorithm: SignatureAlgorithm, length: int
) -> None:
    issued = softhsm_token.keys[label]
    with open_signer(softhsm_token, label) as signer:
        assert signer.algorithm is algorithm
        signature = signer.sign(DATA)

    assert len(signature) == length
    verify_xmldsig(issued.certificate, signature, DATA, algorithm)
    # The software signer's output has the same form: one verifier accepts both.
    software = SoftwareSigner(key=issued.key, certificate=issued.certificate)
    verify_xmldsig(issued.certificate, software.sign(DATA), DATA, algorithm)


@pytest.mark.parametrize(
    "algorithm",
    [SignatureAlgorithm.RSA_SHA256, SignatureAlgorithm.RSA_SHA384, SignatureAlgorithm.RSA_SHA512],
)
@pytest.mark.parametrize("mechanisms", ["hash-and-sign", "raw-rsa-only"])
def test_rsa_signature_is_the_same_with_token_or_host_hashing(
    softhsm_token: SoftHsmToken, algorithm: SignatureAlgorithm, mechanisms: str
) -> None:
    offered = (
        frozenset({Mechanism.RSA_PKCS})
        if mechanisms == "raw-rsa-only"
        else frozenset({Mechanism.SHA256_RSA_PKCS, Mechanism.SHA384_RSA_PKCS})
        | frozenset({Mechanism.SHA512_RSA_PKCS})
    )
    issued = softhsm_token.keys[RSA_LABEL]
    assert isinstance(issued.key, rsa.RSAPrivateKey)
    with open_signer(softhsm_token, RSA_LABEL) as signer:
        signer._algorithm = algorithm
        signer._plan = _plan(algorithm, offered)
        assert signer._plan.prehash is (mechanisms == "raw-rsa-only")
        signature = signer.sign(DATA)

    assert signature == issued.key.sign(DATA, padding.PKCS1v15(), algorithm.hash())


def test_ec_signing_works_when_the_token_does_not_list_its_mechanisms(
    softhsm_token: SoftHsmToken,
) -> None:
    issued = softhsm_token.keys[EC_LABEL]
    with open_signer(softhsm_token, EC_LABEL) as signer:
        signer._plan = _plan(SignatureAlgorithm.ECDSA_SHA256, None)
        signature = signer.sign(DATA)
    verify_xmldsig(issued.certificate, signature, DATA, SignatureAlgorithm.ECDSA_SHA256)


def test_plan_prefers_the_tokens_own_hashing() -> None:
    offered = frozenset({Mechanism.ECDSA, Mechanism.ECDSA_SHA384})
    assert _plan(SignatureAlgorithm.ECDSA_SHA384, offered) == _Plan(
        Mechanism.ECDSA_SHA384, prehash=False
    )
    assert _plan(SignatureAlgorithm.ECDSA_SHA256, offered) == _Plan(Mechanism.ECDSA, prehash=True)


def test_plan_refuses_a_token_without_a_suitable_mechanism() -> None:
    with pytest.raises(Pkcs11Error) as excinfo:
        _plan(SignatureAlgorithm.RSA_SHA256, frozenset({Mechanism.ECDSA}))
    assert "rsa-sha256" in failure(excinfo, "signing_pkcs11")


def test_certificate_is_found_by_label_when_the_key_has_no_id(
    softhsm_token: SoftHsmToken,
) -> None:
    issued = softhsm_token.keys[LABEL_ONLY_LABEL]
    with open_signer(softhsm_token, LABEL_ONLY_LABEL) as signer:
        assert signer.certificate == issued.certificate
        verify_xmldsig(issued.certificate, signer.sign(DATA), DATA, SignatureAlgorithm.ECDSA_SHA256)


def test_a_given_certificate_serves_a_key_without_one_on_the_token(
    softhsm_token: SoftHsmToken,
) -> None:
    issued = softhsm_token.keys[NO_CERTIFICATE_LABEL]
    with open_signer(softhsm_token, NO_CERTIFICATE_LABEL, certificate=issued.certificate) as signer:
        assert signer.certificate == issued.certificate
        signature = signer.sign(DATA)
    verify_xmldsig(issued.certificate, signature, DATA, SignatureAlgorithm.RSA_SHA256)


def test_signing_after_close_is_refused(softhsm_token: SoftHsmToken) -> None:
    signer = open_signer(softhsm_token, RSA_LABEL)
    signer.close()
    signer.close()  # closing twice is harmless
    with pytest.raises(Pkcs11Error) as excinfo:
        signer.sign(DATA)
    assert "closed" in failure(excinfo, "signing_pkcs11")


# --- what goes wrong, and what the person is told ----------------------------------------------


def test_wrong_pin_is_refused(softhsm_token: SoftHsmToken) -> None:
    with pytest.raises(Pkcs11Error) as excinfo:
        open_signer(softhsm_token, RSA_LABEL, pin="0000")
    failure(excinfo, "signing_pkcs11_pin", mentions=(TOKEN_LABEL, "the PIN is wrong"))


def test_missing_pin_is_refused_when_the_token_needs_one(softhsm_token: SoftHsmToken) -> None:
    with pytest.raises(Pkcs11Error) as excinfo:
        open_signer(softhsm_token, RSA_LABEL, pin=None)
    failure(excinfo, "signing_pkcs11_pin", mentions=("no PIN was given",))


def test_a_right_pin_still_works_after_a_wrong_one(softhsm_token: SoftHsmToken) -> None:
    with pytest.raises(Pkcs11Error):
        open_signer(softhsm_token, RSA_LABEL, pin="9999")
    with open_signer(softhsm_token, RSA_LABEL) as signer:
        assert signer.sign(DATA)


def test_unknown_token_label_lists_the_tokens_present(softhsm_token: SoftHsmToken) -> None:
    with pytest.raises(Pkcs11Error) as excinfo:
        open_pkcs11_signer(softhsm_token.module, "no-such-token", RSA_LABEL, "1234")
    message = failure(excinfo, "signing_pkcs11_token", mentions=('"no-such-token"',))
    assert f'Tokens present: "{TOKEN_LABEL}".' in message  # SoftHSM's empty spare slot is left out


def test_unknown_key_label_lists_the_keys_present(softhsm_token: SoftHsmToken) -> None:
    with pytest.raises(Pkcs11Error) as excinfo:
        open_signer(softhsm_token, "no-such-key")
    failure(
        excinfo,
        "signing_pkcs11_key",
        mentions=('"no-such-key"', f'"{RSA_LABEL}"', f'"{EC_LABEL}"', f'"{TWIN_LABEL}"'),
    )


def test_two_keys_with_one_label_are_refused(softhsm_token: SoftHsmToken) -> None:
    with pytest.raises(Pkcs11Error) as excinfo:
        open_signer(softhsm_token, TWIN_LABEL)
    failure(excinfo, "signing_pkcs11_key", mentions=("several private keys",))


def test_key_the_token_does_not_allow_to_sign_is_refused(softhsm_token: SoftHsmToken) -> None:
    with pytest.raises(Pkcs11Error) as excinfo:
        open_signer(softhsm_token, NO_SIGN_LABEL)
    failure(excinfo, "signing_pkcs11_key", mentions=("does not allow this key to sign",))


@pytest.mark.parametrize("module", ["missing/libnothing.so", "not-a-library.so"])
def test_unloadable_module_is_reported(tmp_path: Path, module: str) -> None:
    (tmp_path / "not-a-library.so").write_text("plain text", encoding="utf-8")
    path = str(tmp_path / module)
    with pytest.raises(Pkcs11Error) as excinfo:
        open_pkcs11_signer(path, TOKEN_LABEL, RSA_LABEL, "1234")
    reason = "does not exist" if module.startswith("missing") else "not a PKCS#11 library"
    failure(excinfo, "signing_pkcs11_module", mentions=(path, reason, "--pkcs11-module"))


def test_key_without_certificate_on_token_points_to_cert_option(
    softhsm_token: SoftHsmToken,
) -> None:
    with pytest.raises(Pkcs11Error) as excinfo:
        open_signer(softhsm_token, NO_CERTIFICATE_LABEL)
    failure(excinfo, "signing_pkcs11_certificate", mentions=(NO_CERTIFICATE_LABEL, "--cert"))


@pytest.mark.parametrize(
    ("key_label", "certificate_of", "reason"),
    [
        (NO_CERTIFICATE_LABEL, RSA_LABEL, "the RSA public keys differ"),
        (RSA_LABEL, EC_LABEL, "the certificate's key is not"),
        (EC_LABEL, RSA_LABEL, "the certificate's key is not"),
        (EC384_LABEL, EC_LABEL, "different elliptic curves"),
        (EC_LABEL, "fresh P-256 key", "the EC public keys differ"),
    ],
)
def test_certificate_of_another_key_is_refused(
    softhsm_token: SoftHsmToken, key_label: str, certificate_of: str, reason: str
) -> None:
    if certificate_of in softhsm_token.keys:
        certificate = softhsm_token.keys[certificate_of].certificate
    else:
        certificate = softhsm_token.pki.issue_server(
            ura="90000123",
            organisation="Huisartsenpraktijk De Linde",
            fqdn="his.delinde.example",
            uzi_number="900030001",
            key=new_ec_key(),
        ).certificate
    with pytest.raises(Pkcs11Error) as excinfo:
        open_signer(softhsm_token, key_label, certificate=certificate)
    mentions = (reason, key_label, "his.delinde.example")
    failure(excinfo, "signing_pkcs11_certificate_mismatch", mentions=mentions)


@pytest.mark.parametrize(
    ("raised", "code", "reason"),
    [
        (p11.PinLocked(), "signing_pkcs11_pin_locked", "locked"),
        (p11.PinExpired(), "signing_pkcs11_pin", "expired"),
        (p11.DeviceRemoved(), "signing_pkcs11", "removed"),
        (p11.GeneralError(), "signing_pkcs11", "GeneralError"),
    ],
)
def test_token_failures_become_errors_with_codes(
    raised: p11.PKCS11Error, code: str, reason: str
) -> None:
    error = _failure(raised, TOKEN_LABEL)
    assert error.code == code
    assert reason in str(error.params["reason"])
    error.public_message("en")  # every placeholder of the template is filled
    error.public_message("nl")
