"""Our signatures and independent implementations of the profile understand each other.

signxml (Python) and libxmlsec1 (C, through python-xmlsec) each sign a document per the profile,
and our verifier accepts it; each verifies what our signer writes.
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import pytest
import xmlsec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from lxml import etree
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)
from signxml.signer import XMLSigner
from signxml.verifier import VerifyResult, XMLVerifier

from tests.support.orgdoc import document, sign_document
from zorgid.orgdoc.document import build_tree, from_tree
from zorgid.orgdoc.signature import signed_content

if TYPE_CHECKING:
    from zorgid.pki.testpki import Issued

if TYPE_CHECKING:
    from pathlib import Path


def _signxml_sign(issued: Issued, method: SignatureMethod) -> bytes:
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=method,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    signed = signer.sign(build_tree(document()), key=issued.key, cert=[issued.certificate])
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


def _xmlsec_sign(issued: Issued) -> bytes:
    root = build_tree(document())
    template = xmlsec.template.create(
        root, xmlsec.constants.TransformExclC14N, xmlsec.constants.TransformRsaSha256, ns="ds"
    )
    root.append(template)
    reference = xmlsec.template.add_reference(template, xmlsec.constants.TransformSha256, uri="")
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
    xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(template))
    context = xmlsec.SignatureContext()
    key_pem = issued.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    key = xmlsec.Key.from_memory(key_pem, xmlsec.constants.KeyDataFormatPem)
    key.load_cert_from_memory(
        issued.certificate.public_bytes(Encoding.PEM), xmlsec.constants.KeyDataFormatPem
    )
    context.key = key
    context.sign(template)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_a_document_signed_by_signxml_is_accepted(server: Issued) -> None:
    content = signed_content(_signxml_sign(server, SignatureMethod.RSA_SHA256))
    assert from_tree(content.root).ura == "90000123"
    assert content.certificate == server.certificate


def test_an_ec_document_signed_by_signxml_is_accepted(ec_server: Issued) -> None:
    content = signed_content(_signxml_sign(ec_server, SignatureMethod.ECDSA_SHA256))
    assert content.algorithm.key_type == "ec"


def test_a_document_signed_by_libxmlsec1_is_accepted(server: Issued) -> None:
    content = signed_content(_xmlsec_sign(server))
    assert from_tree(content.root).naam == "Huisartsenpraktijk De Linde"


@pytest.mark.parametrize("which", ["server", "ec_server"])
def test_signxml_verifies_what_we_sign(which: str, request: pytest.FixtureRequest) -> None:
    issued: Issued = request.getfixturevalue(which)
    result = XMLVerifier().verify(
        sign_document(issued),
        x509_cert=issued.certificate.public_bytes(Encoding.PEM).decode(),
    )
    assert isinstance(result, VerifyResult)
    assert result.signed_xml is not None
    assert etree.QName(result.signed_xml).localname == "Organisatiedocument"


def test_libxmlsec1_verifies_what_we_sign(server: Issued) -> None:
    root = etree.fromstring(sign_document(server))
    node = xmlsec.tree.find_node(root, xmlsec.constants.NodeSignature)
    assert node is not None
    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_memory(
        server.certificate.public_bytes(Encoding.PEM), xmlsec.constants.KeyDataFormatCertPem
    )
    context.verify(node)  # raises xmlsec.VerificationError when it does not verify


def test_libxmlsec1_rejects_a_tampered_document_we_signed(server: Issued) -> None:
    root = etree.fromstring(sign_document(server).replace(b"De Linde", b"De Eik"))
    node = xmlsec.tree.find_node(root, xmlsec.constants.NodeSignature)
    assert node is not None
    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_memory(
        server.certificate.public_bytes(Encoding.PEM), xmlsec.constants.KeyDataFormatCertPem
    )
    with pytest.raises(xmlsec.VerificationError):
        context.verify(node)


def test_the_debian_xmlsec1_command_verifies_what_we_sign(server: Issued, tmp_path: Path) -> None:
    document, certificate = tmp_path / "signed.xml", tmp_path / "cert.pem"
    document.write_bytes(sign_document(server))
    certificate.write_bytes(server.certificate.public_bytes(Encoding.PEM))
    result = subprocess.run(
        ["xmlsec1", "--verify", "--pubkey-cert-pem", str(certificate), str(document)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stderr


def test_a_document_signed_by_the_debian_xmlsec1_command_is_accepted(
    server: Issued, tmp_path: Path
) -> None:
    root = build_tree(document())
    template = xmlsec.template.create(
        root, xmlsec.constants.TransformExclC14N, xmlsec.constants.TransformRsaSha256, ns="ds"
    )
    root.append(template)
    reference = xmlsec.template.add_reference(template, xmlsec.constants.TransformSha256, uri="")
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
    xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(template))
    unsigned, key, certificate = tmp_path / "in.xml", tmp_path / "key.pem", tmp_path / "cert.pem"
    unsigned.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    key.write_bytes(server.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    certificate.write_bytes(server.certificate.public_bytes(Encoding.PEM))
    out = tmp_path / "out.xml"
    subprocess.run(
        [
            "xmlsec1",
            "--sign",
            "--privkey-pem",
            f"{key},{certificate}",
            "--output",
            str(out),
            str(unsigned),
        ],
        capture_output=True,
        check=True,
    )
    assert from_tree(signed_content(out.read_bytes()).root).ura == "90000123"
