"""Helpers for organisation-document tests: documents, signing, and the attacker's forger."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from dataclasses import replace
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from lxml import etree

from zorgid.orgdoc.document import DSIG_NS, OrganisationDocument, build_tree
from zorgid.orgdoc.keys import SoftwareSigner, ecdsa_raw_signature
from zorgid.orgdoc.signature import sign_tree

if TYPE_CHECKING:
    from collections.abc import Callable

    from zorgid.pki.testpki import Issued

NOW = dt.datetime(2026, 11, 28, 12, 0, 0, tzinfo=dt.UTC)
CHALLENGE = "Q2hhbGxlbmdlLWZyb20tc2VydmVyLTMyYnl0ZXM"
URA = "90000123"

VALUES = {
    "Aanvraag/Aanvraagnummer": "ZID-2026-000123",
    "Aanvraag/Uitdaging": CHALLENGE,
    "Aanvraag/Omgeving": "acceptatie",
    "Organisatie/URA": URA,
    "Organisatie/Naam": "Huisartsenpraktijk De Linde",
    "Organisatie/KvKNummer": "12345678",
    "TechnischBeheerder/Naam": "Jan Jansen",
    "TechnischBeheerder/Email": "it@delinde.example",
    "TechnischBeheerder/Telefoon": "+31201234567",
    "PortaalAdministrator/Naam": "Petra de Vries",
    "PortaalAdministrator/Email": "petra@delinde.example",
    "Applicaties/Applicatie": "example-his",
}


def ds(name: str) -> str:
    return f"{{{DSIG_NS}}}{name}"


def document(**overrides: str) -> OrganisationDocument:
    values = {**VALUES, **overrides}
    return replace(
        OrganisationDocument().with_values(values.items()),
        ondertekend=NOW - dt.timedelta(minutes=5),
    )


def sign_document(issued: Issued, doc: OrganisationDocument | None = None) -> bytes:
    signer = SoftwareSigner(issued.key, issued.certificate, issued.chain[:-1])
    return sign_tree(build_tree(doc or document()), signer)


def find(node: etree._Element, *tags: str) -> etree._Element:
    """The element at ``tags`` below ``node`` (each a child of the previous); it must exist."""
    for tag in tags:
        child = node.find(tag)
        assert child is not None, tag
        node = child
    return node


def parse(data: bytes) -> etree._Element:
    return etree.fromstring(data)


def dump(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}  # fmt: skip


def _hash_name(uri: str) -> str:
    return uri.rsplit("#", 1)[1].removeprefix("rsa-").removeprefix("ecdsa-").removeprefix("hmac-")


def resign(root: etree._Element, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    """Genuinely (re)sign whatever signature structure ``root`` has, with its declared algorithms.

    The attacker's tool: lets a test build an attack that is cryptographically correct, so that
    only the profile can be what rejects it.
    """
    signature = next(root.iter(ds("Signature")))
    signed_info = signature.find(ds("SignedInfo"))
    assert signed_info is not None
    with_comments = "WithComments" in (
        signed_info.find(ds("CanonicalizationMethod")).get("Algorithm") or ""  # type: ignore[union-attr]
    )
    for reference in signed_info.iter(ds("Reference")):
        parent = signature.getparent()
        assert parent is not None
        tail, previous = signature.tail, signature.getprevious()
        before = previous.tail if previous is not None else parent.text
        parent.remove(signature)
        if tail and previous is not None:
            previous.tail = (before or "") + tail
        c14n = etree.tostring(root.getroottree(), method="c14n", exclusive=True,
                              with_comments=with_comments)  # fmt: skip
        if previous is not None:
            previous.tail = before
        parent.append(signature)
        signature.tail = tail
        method = reference.find(ds("DigestMethod")).get("Algorithm")  # type: ignore[union-attr]
        digest = hashlib.new(_hash_name(method or ""), c14n).digest()
        reference.find(ds("DigestValue")).text = base64.b64encode(digest).decode()  # type: ignore[union-attr]
    data = etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=with_comments)
    method = signed_info.find(ds("SignatureMethod")).get("Algorithm") or ""  # type: ignore[union-attr]
    algorithm = _HASHES[_hash_name(method)]()
    if "hmac" in method:
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        value = hmac.new(public, data, _hash_name(method)).digest()
    elif isinstance(key, rsa.RSAPrivateKey):
        value = key.sign(data, padding.PKCS1v15(), algorithm)
    else:
        value = ecdsa_raw_signature(key.sign(data, ec.ECDSA(algorithm)), key.curve.key_size)
    signature.find(ds("SignatureValue")).text = base64.b64encode(value).decode()  # type: ignore[union-attr]
    return dump(root)
