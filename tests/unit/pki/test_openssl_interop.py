"""Certificates made by another implementation (the openssl command) are read and trusted.

Tools in the field make UZI-like test certificates with openssl, writing the otherName as an
IA5String or as a UTF8String (``otherName:2.5.5.5;UTF8:...``); both must work end to end.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from zorgid.pki.revocation import CrlStore, RevocationChecker
from zorgid.pki.testpki import TestPki
from zorgid.pki.trust import CertificateValidator, Purpose, TrustConfig
from zorgid.pki.uzi import CardType, read_certificate

if TYPE_CHECKING:
    from pathlib import Path

VALUE = "2.16.528.1.1007.99.2110-1-900030787-S-90000380-00.000-11223344"

EXTENSIONS = """
[ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = @san
authorityKeyIdentifier = keyid
[san]
DNS.1 = his.zonnebloem.example
otherName.1 = 2.5.5.5;{encoding}:{value}
otherName.2 = 1.3.6.1.5.5.7.8.3;SEQUENCE:permid
[permid]
value = UTF8:90000380
assigner = OID:2.16.528.1.1007.3.3
"""


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki(now=dt.datetime.now(dt.UTC))


def _openssl_certificate(pki: TestPki, directory: Path, encoding: str) -> x509.Certificate:
    ca_cert, ca_key = directory / "ca.pem", directory / "ca-key.pem"
    ca_cert.write_bytes(pki.server_ca.certificate.public_bytes(Encoding.PEM))
    ca_key.write_bytes(
        pki.server_ca.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    (directory / "ext.cnf").write_text(EXTENSIONS.format(encoding=encoding, value=VALUE))
    commands = [
        [
            "openssl",
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "req.csr",
            "-subj",
            "/C=NL/O=Zorginstelling De Zonnebloem/CN=his.zonnebloem.example/serialNumber=900030787",
        ],
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            "req.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            "cert.pem",
            "-days",
            "30",
            "-sha256",
            "-extfile",
            "ext.cnf",
            "-extensions",
            "ext",
        ],
    ]
    for command in commands:
        subprocess.run(command, cwd=directory, check=True, capture_output=True)
    return x509.load_pem_x509_certificate((directory / "cert.pem").read_bytes())


@pytest.mark.parametrize("encoding", ["IA5", "UTF8"])
def test_an_openssl_made_server_certificate_is_read(
    pki: TestPki, tmp_path: Path, encoding: str
) -> None:
    info = read_certificate(_openssl_certificate(pki, tmp_path, encoding))
    assert info.uzi is not None
    assert info.uzi.value() == VALUE
    assert info.uzi.card_type is CardType.SERVER
    assert info.uzi.ura == "90000380"
    assert info.subject_serial_number == "900030787"
    assert info.permanent_identifier is not None
    assert info.permanent_identifier.value == "90000380"
    assert info.permanent_identifier.assigner == "2.16.528.1.1007.3.3"


@pytest.mark.parametrize("encoding", ["IA5", "UTF8"])
def test_an_openssl_made_server_certificate_is_trusted_for_signing(
    pki: TestPki, tmp_path: Path, encoding: str
) -> None:
    certificate = _openssl_certificate(pki, tmp_path, encoding)
    validator = CertificateValidator(
        TrustConfig(
            anchors=(pki.server_ca.certificate,),
            revocation=RevocationChecker(crl_sources=(CrlStore([pki.crl(pki.server_ca)]),)),
        )
    )
    validated = validator.validate(
        certificate, at=dt.datetime.now(dt.UTC), purpose=Purpose.ORGANISATION_SIGNATURE
    )
    assert validated.identity.ura == "90000380"
