"""A throw-away SoftHSM2 token for tests: a real PKCS#11 module, as a smartcard or HSM would be.

The ``softhsm_token`` fixture (session-scoped, registered for every test by ``tests/conftest.py``)
writes a SoftHSM2 config into a temporary directory, points ``SOFTHSM2_CONF`` at it, initialises
one token with ``softhsm2-util`` and fills it through python-pkcs11 with the keys and certificates
listed below. Use :attr:`SoftHsmToken.env` for a subprocess (``zorgid validatietool sign
--pkcs11-module ...``): the token's files persist, so another process sees the same objects.

Why one token for the whole run: SoftHSM2 reads ``SOFTHSM2_CONF`` once, when the module is
initialised, and python-pkcs11 keeps a loaded module for the rest of the process. Nothing may load
the SoftHSM2 module in the test process before this fixture has run; the fixture checks that its
token is visible and fails with an explanation otherwise.

Objects on the token (user PIN :data:`USER_PIN`), by private-key label:

=================  =====  ======================================================================
key label          CKA_ID what else
=================  =====  ======================================================================
``server-rsa``     01     RSA 2048, demo organisation's server certificate (same ID and label);
                          the Private Server CA and the root certificate are on the token too
``server-ec``      02     EC P-256, its certificate and its public-key object
``server-ec384``   03     EC P-384 and its certificate (no public-key object)
``no-certificate`` 04     RSA 2048 without a certificate on the token (the certificate is only
                          in :attr:`SoftHsmToken.keys`, for ``--cert``)
``label-only``     (none) EC P-256, certificate found by the same label only
``no-sign``        06     EC P-256 with ``CKA_SIGN`` false, and its certificate
``twin``           07, 08 two EC P-256 keys with the same label
=================  =====  ======================================================================
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pkcs11
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11.util.ec import encode_named_curve_parameters
from pkcs11.util.x509 import decode_x509_certificate

from zorgid.pki.testpki import DEMO_ORGANISATIONS, Issued, TestPki, new_ec_key

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Any

    from cryptography import x509

#: Where Debian's ``softhsm2`` package puts the module; override for other systems.
SOFTHSM_MODULE = os.environ.get("ZORGID_TEST_SOFTHSM_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
TOKEN_LABEL = "zorgid-test"  # noqa: S105 - a token's name, not a secret
USER_PIN = "1234"
SO_PIN = "5678"

RSA_LABEL = "server-rsa"
EC_LABEL = "server-ec"
EC384_LABEL = "server-ec384"
NO_CERTIFICATE_LABEL = "no-certificate"
LABEL_ONLY_LABEL = "label-only"
NO_SIGN_LABEL = "no-sign"
TWIN_LABEL = "twin"


@dataclass(frozen=True)
class SoftHsmToken:
    """The test token: how to reach it, and the keys and certificates it holds."""

    module: str
    config: Path
    label: str
    pin: str
    so_pin: str
    pki: TestPki
    #: By key label: the certificate, the private key (a copy, for comparisons) and the CA chain.
    keys: Mapping[str, Issued]

    @property
    def env(self) -> dict[str, str]:
        """The environment a subprocess needs to see this token (merge into ``os.environ``)."""
        return {"SOFTHSM2_CONF": str(self.config)}


@pytest.fixture(scope="session")
def softhsm_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsmToken]:
    """A SoftHSM2 token with the keys and certificates of this module's docstring."""
    directory = tmp_path_factory.mktemp("softhsm")
    tokens = directory / "tokens"
    tokens.mkdir()
    config = directory / "softhsm2.conf"
    config.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n",
        encoding="utf-8",
    )
    with pytest.MonkeyPatch.context() as patch:
        # Set before the first load of the module in this process: SoftHSM2 reads it only then.
        patch.setenv("SOFTHSM2_CONF", str(config))
        _init_token()
        pki = TestPki(now=dt.datetime.now(dt.UTC))
        keys = _fill_token(pki)
        yield SoftHsmToken(
            module=SOFTHSM_MODULE,
            config=config,
            label=TOKEN_LABEL,
            pin=USER_PIN,
            so_pin=SO_PIN,
            pki=pki,
            keys=keys,
        )


def _init_token() -> None:
    tool = shutil.which("softhsm2-util")
    if tool is None or not Path(SOFTHSM_MODULE).exists():
        pytest.fail("SoftHSM2 is not installed: apt-get install softhsm2 (see tests/softhsm.py)")
    subprocess.run(
        [
            tool,
            "--init-token",
            "--free",
            "--label",
            TOKEN_LABEL,
            "--pin",
            USER_PIN,
            "--so-pin",
            SO_PIN,
        ],
        check=True,
        capture_output=True,
    )


def _fill_token(pki: TestPki) -> dict[str, Issued]:
    demo = DEMO_ORGANISATIONS[0]

    def issue(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None) -> Issued:
        return pki.issue_server(
            ura=demo.ura,
            organisation=demo.name,
            fqdn=demo.fqdn,
            uzi_number=demo.uzi_number,
            key=key,
        )

    keys = {
        RSA_LABEL: issue(),
        EC_LABEL: issue(new_ec_key()),
        EC384_LABEL: issue(new_ec_key(ec.SECP384R1())),
        NO_CERTIFICATE_LABEL: issue(),
        LABEL_ONLY_LABEL: issue(new_ec_key()),
        NO_SIGN_LABEL: issue(new_ec_key()),
    }
    try:
        token = pkcs11.lib(SOFTHSM_MODULE).get_token(token_label=TOKEN_LABEL)
    except pkcs11.NoSuchToken:
        pytest.fail(
            "SoftHSM2 was loaded in this process before the softhsm_token fixture set "
            "SOFTHSM2_CONF; request the fixture before anything else uses the module"
        )
    with token.open(rw=True, user_pin=USER_PIN) as session:
        put = session.create_object
        put(_private_key(keys[RSA_LABEL], RSA_LABEL, b"\x01"))
        put(_certificate(keys[RSA_LABEL].certificate, RSA_LABEL, b"\x01"))
        root = pki.root.certificate
        for ca, ca_id in ((pki.server_ca.certificate, b"\xca"), (root, b"\xcb")):
            put(_certificate(ca, ca.subject.rfc4514_string(), ca_id))
        put(_private_key(keys[EC_LABEL], EC_LABEL, b"\x02"))
        put(_ec_public_key(keys[EC_LABEL], EC_LABEL, b"\x02"))
        put(_certificate(keys[EC_LABEL].certificate, EC_LABEL, b"\x02"))
        put(_private_key(keys[EC384_LABEL], EC384_LABEL, b"\x03"))
        put(_certificate(keys[EC384_LABEL].certificate, EC384_LABEL, b"\x03"))
        put(_private_key(keys[NO_CERTIFICATE_LABEL], NO_CERTIFICATE_LABEL, b"\x04"))
        put(_private_key(keys[LABEL_ONLY_LABEL], LABEL_ONLY_LABEL, None))
        put(_certificate(keys[LABEL_ONLY_LABEL].certificate, LABEL_ONLY_LABEL, None))
        put(_private_key(keys[NO_SIGN_LABEL], NO_SIGN_LABEL, b"\x06", sign=False))
        put(_certificate(keys[NO_SIGN_LABEL].certificate, NO_SIGN_LABEL, b"\x06"))
        for twin_id in (b"\x07", b"\x08"):
            put(_private_key(issue(new_ec_key()), TWIN_LABEL, twin_id))
    return keys


def _common(object_class: ObjectClass, label: str, key_id: bytes | None) -> dict[Attribute, Any]:
    attributes: dict[Attribute, Any] = {
        Attribute.CLASS: object_class,
        Attribute.TOKEN: True,
        Attribute.LABEL: label,
    }
    if key_id is not None:
        attributes[Attribute.ID] = key_id
    return attributes


def _private_key(
    issued: Issued, label: str, key_id: bytes | None, *, sign: bool = True
) -> dict[Attribute, Any]:
    # As a smartcard or HSM keeps a key: private, sensitive, never to leave the token.
    attributes = _common(ObjectClass.PRIVATE_KEY, label, key_id) | {
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.SIGN: sign,
    }
    key = issued.key
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.private_numbers()
        return attributes | {
            Attribute.KEY_TYPE: KeyType.RSA,
            Attribute.MODULUS: _big(numbers.public_numbers.n),
            Attribute.PUBLIC_EXPONENT: _big(numbers.public_numbers.e),
            Attribute.PRIVATE_EXPONENT: _big(numbers.d),
            Attribute.PRIME_1: _big(numbers.p),
            Attribute.PRIME_2: _big(numbers.q),
            Attribute.EXPONENT_1: _big(numbers.dmp1),
            Attribute.EXPONENT_2: _big(numbers.dmq1),
            Attribute.COEFFICIENT: _big(numbers.iqmp),
        }
    return attributes | {
        Attribute.KEY_TYPE: KeyType.EC,
        Attribute.EC_PARAMS: encode_named_curve_parameters(key.curve.name),
        Attribute.VALUE: _big(key.private_numbers().private_value),
    }


def _ec_public_key(issued: Issued, label: str, key_id: bytes) -> dict[Attribute, Any]:
    key = issued.key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return _common(ObjectClass.PUBLIC_KEY, label, key_id) | {
        Attribute.KEY_TYPE: KeyType.EC,
        Attribute.EC_PARAMS: encode_named_curve_parameters(key.curve.name),
        # CKA_EC_POINT is the DER OCTET STRING of the point (PKCS#11 v2.40 §2.3.3).
        Attribute.EC_POINT: bytes([0x04, len(point)]) + point,
        Attribute.VERIFY: True,
    }


def _certificate(
    certificate: x509.Certificate, label: str, key_id: bytes | None
) -> dict[Attribute, Any]:
    der = certificate.public_bytes(serialization.Encoding.DER)
    return decode_x509_certificate(der) | _common(ObjectClass.CERTIFICATE, label, key_id)


def _big(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")
