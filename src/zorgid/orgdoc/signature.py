"""The signature profile of formats.md: making it and checking it, nothing else.

Only one shape is produced and accepted: an enveloped ``ds:Signature`` as the root's last child,
exclusive c14n, one ``Reference URI=""`` with the transforms enveloped-signature then exclusive
c14n, an allow-listed digest and signature method, and ``KeyInfo/X509Data`` with certificates
only (XMLDSig 1.1, https://www.w3.org/TR/xmldsig-core1/). Every deviation has its own error code.

The checker returns the canonical bytes that were signed, re-parsed: callers read data only from
there, never from the tree they received (defeats signature wrapping).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from zorgid.core.i18n import N_, Message
from zorgid.orgdoc.document import (
    DSIG_NS,
    ROOT_TAG,
    check_schema,
    parse_canonical,
    parse_untrusted,
)
from zorgid.orgdoc.errors import SignatureError
from zorgid.orgdoc.keys import SignatureAlgorithm, Signer

if TYPE_CHECKING:
    from collections.abc import Iterator

EXC_C14N: Final = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED: Final = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
DIGESTS: Final = {
    "http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
}
DIGEST_URI: Final = {name: uri for uri, name in DIGESTS.items()}
MAX_CERTIFICATES: Final = 5


def _ds(name: str) -> str:
    return f"{{{DSIG_NS}}}{name}"


class SignatureMissingError(SignatureError):
    """No signature at all (signature exclusion)."""

    code: ClassVar[str] = "signature_missing"
    message: ClassVar[str] = N_(
        "The document is not signed. Sign it with the validation tool (zorgid validatietool "
        "sign) and send the signed file."
    )


class SignatureMultipleError(SignatureError):
    """More than one ds:Signature."""

    code: ClassVar[str] = "signature_multiple"
    message: ClassVar[str] = N_(
        "The document contains more than one signature. Sign the original document once."
    )


class SignatureMisplacedError(SignatureError):
    """The signature is not the last child of the root."""

    code: ClassVar[str] = "signature_misplaced"
    message: ClassVar[str] = N_(
        "The signature is not in the place the profile requires (the last element of the "
        "document). Sign the document again with the validation tool."
    )


class SignatureStructureError(SignatureError):
    """ds:Signature or ds:SignedInfo does not have exactly the profile's elements."""

    code: ClassVar[str] = "signature_structure"


class SignatureForbiddenElementError(SignatureError):
    """ds:Object, ds:Manifest, ds:KeyValue, ds:RetrievalMethod or anything unexpected."""

    code: ClassVar[str] = "signature_forbidden_element"


class SignatureCanonicalizationError(SignatureError):
    """A canonicalization method other than exclusive c14n without comments."""

    code: ClassVar[str] = "signature_canonicalization"


class SignatureAlgorithmError(SignatureError):
    """A signature method outside the allow-list, or one that does not fit the key."""

    code: ClassVar[str] = "signature_algorithm"


class SignatureReferenceError(SignatureError):
    """Not exactly one Reference, or its URI is not ``""``."""

    code: ClassVar[str] = "signature_reference"


class SignatureTransformsError(SignatureError):
    """Transforms other than exactly enveloped-signature then exclusive c14n."""

    code: ClassVar[str] = "signature_transforms"


class SignatureDigestAlgorithmError(SignatureError):
    """A digest method outside the allow-list."""

    code: ClassVar[str] = "signature_digest_algorithm"


class SignatureKeyInfoError(SignatureError):
    """KeyInfo is not X509Data with the signer certificate first."""

    code: ClassVar[str] = "signature_key_info"


class SignatureDigestMismatchError(SignatureError):
    """The document was changed after signing."""

    code: ClassVar[str] = "signature_digest_mismatch"
    message: ClassVar[str] = N_(
        "The document was changed after it was signed. Send the file exactly as the validation "
        "tool wrote it, or sign again."
    )


class SignatureValueError(SignatureError):
    """The signature value does not verify with the certificate's key."""

    code: ClassVar[str] = "signature_value_invalid"
    message: ClassVar[str] = N_(
        "The signature does not match the certificate in the document: it was not made with "
        "that certificate's private key, or it was changed. Sign again with the validation tool."
    )


@dataclass(frozen=True)
class SignedContent:
    """What a checked signature covers: the canonical bytes, re-parsed, and who signed."""

    root: etree._Element
    canonical: bytes
    certificate: x509.Certificate
    intermediates: tuple[x509.Certificate, ...]
    algorithm: SignatureAlgorithm
    digest_algorithm: str


# --- shared between signing and checking -------------------------------------------------------


@contextmanager
def _detached(root: etree._Element, signature: etree._Element) -> Iterator[None]:
    """Remove ``signature`` for the enveloped-signature transform, keeping the text around it.

    XMLDSig 6.6.4: only the Signature element node and its descendants go; the text after it stays.
    """
    tail = signature.tail
    previous = signature.getprevious()
    before = previous.tail if previous is not None else root.text
    signature.tail = None
    root.remove(signature)
    if tail:
        if previous is not None:
            previous.tail = (before or "") + tail
        else:
            root.text = (before or "") + tail
    try:
        yield
    finally:
        if previous is not None:
            previous.tail = before
        else:
            root.text = before
        root.append(signature)
        signature.tail = tail


def _c14n(node: etree._Element | etree._ElementTree) -> bytes:
    return etree.tostring(node, method="c14n", exclusive=True, with_comments=False)


def _digest(name: str, data: bytes) -> bytes:
    return hashlib.new(name, data).digest()


# --- signing -----------------------------------------------------------------------------------


def sign_tree(root: etree._Element, signer: Signer, *, digest: str = "sha256") -> bytes:
    """Append an enveloped signature to ``root`` (which has none) and return the signed file."""
    algorithm = signer.algorithm
    signature = etree.SubElement(root, _ds("Signature"), nsmap={"ds": DSIG_NS})
    signed_info = etree.SubElement(signature, _ds("SignedInfo"))
    etree.SubElement(signed_info, _ds("CanonicalizationMethod"), Algorithm=EXC_C14N)
    etree.SubElement(signed_info, _ds("SignatureMethod"), Algorithm=algorithm.uri)
    reference = etree.SubElement(signed_info, _ds("Reference"), URI="")
    transforms = etree.SubElement(reference, _ds("Transforms"))
    etree.SubElement(transforms, _ds("Transform"), Algorithm=ENVELOPED)
    etree.SubElement(transforms, _ds("Transform"), Algorithm=EXC_C14N)
    etree.SubElement(reference, _ds("DigestMethod"), Algorithm=DIGEST_URI[digest])
    digest_value = etree.SubElement(reference, _ds("DigestValue"))
    value = etree.SubElement(signature, _ds("SignatureValue"))
    key_info = etree.SubElement(signature, _ds("KeyInfo"))
    x509_data = etree.SubElement(key_info, _ds("X509Data"))
    for certificate in (signer.certificate, *signer.chain):
        der = certificate.public_bytes(Encoding.DER)
        etree.SubElement(x509_data, _ds("X509Certificate")).text = base64.b64encode(der).decode()
    # Indent the signature like the rest of the document before anything is digested.
    etree.indent(signature, space="  ", level=1)
    previous = signature.getprevious()
    if previous is not None:
        previous.tail = "\n  "
    signature.tail = "\n"
    with _detached(root, signature):
        digest_value.text = base64.b64encode(_digest(digest, _c14n(root.getroottree()))).decode()
    value.text = base64.b64encode(signer.sign(_c14n(signed_info))).decode()
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8") + b"\n"


# --- checking ---------------------------------------------------------------------------------


_FORBIDDEN = frozenset(
    _ds(n) for n in ("Object", "Manifest", "KeyValue", "RetrievalMethod", "SignatureProperties")
)


def _expect_children(parent: etree._Element, names: tuple[str, ...]) -> list[etree._Element]:
    children = list(parent)
    for child in children:
        if child.tag in _FORBIDDEN:
            name = etree.QName(child).localname
            raise SignatureForbiddenElementError(
                name,
                reason=Message(
                    N_("the element {element} is not allowed in the signature"),
                    {"element": f"ds:{name}"},
                ),
            )
    tags = tuple(c.tag for c in children)
    if tags != tuple(_ds(n) for n in names):
        where = etree.QName(parent).localname
        expected = ", ".join(names)
        raise SignatureStructureError(
            f"{where}: {tags}",
            reason=Message(
                N_("{element} must contain exactly these elements, in this order: {expected}"),
                {"element": f"ds:{where}", "expected": expected},
            ),
        )
    return children


def _no_attributes_except(element: etree._Element, allowed: frozenset[str]) -> None:
    extra = set(element.attrib) - allowed
    if extra:
        name = etree.QName(element).localname
        raise SignatureStructureError(
            f"{name} has {extra}",
            reason=Message(
                N_("{element} has attributes the signature profile does not allow ({attributes})"),
                {"element": f"ds:{name}", "attributes": ", ".join(sorted(extra))},
            ),
        )


def _leaf(element: etree._Element) -> None:
    """An Algorithm-carrying element must be empty (no parameters such as XPath or HMAC length)."""
    if len(element) or (element.text and element.text.strip()):
        name = etree.QName(element).localname
        raise SignatureStructureError(
            f"{name} has content",
            reason=Message(N_("{element} must be empty"), {"element": f"ds:{name}"}),
        )


def _base64(element: etree._Element, what: str) -> bytes:
    text = "".join((element.text or "").split())
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureStructureError(
            what, reason=Message(N_("{element} is not valid base64"), {"element": f"ds:{what}"})
        ) from None


def locate_signature(root: etree._Element) -> etree._Element:
    """The single signature, which must be the root's last child."""
    found = list(root.iter(_ds("Signature")))
    if not found:
        raise SignatureMissingError
    if len(found) > 1:
        raise SignatureMultipleError
    signature = found[0]
    if signature.getparent() is not root or root[-1] is not signature:
        raise SignatureMisplacedError
    return signature


def _check_signed_info(signed_info: etree._Element) -> tuple[SignatureAlgorithm, str, bytes]:
    # Counted first: two references, or none, is its own attack class (partial references).
    if len(signed_info.findall(_ds("Reference"))) != 1:
        raise SignatureReferenceError(
            reason=N_("the signature must have exactly one ds:Reference element")
        )
    c14n, method, reference = _expect_children(
        signed_info, ("CanonicalizationMethod", "SignatureMethod", "Reference")
    )
    _no_attributes_except(signed_info, frozenset())
    for element in (c14n, method):
        _no_attributes_except(element, frozenset({"Algorithm"}))
        _leaf(element)
    if c14n.get("Algorithm") != EXC_C14N:
        raise SignatureCanonicalizationError(
            str(c14n.get("Algorithm")),
            reason=Message(
                N_(
                    "the canonicalization method {algorithm} is not allowed (only exclusive "
                    "c14n without comments is)"
                ),
                {"algorithm": str(c14n.get("Algorithm"))},
            ),
        )
    algorithm = SignatureAlgorithm.from_uri(method.get("Algorithm", ""))
    if algorithm is None:
        raise SignatureAlgorithmError(
            str(method.get("Algorithm")),
            reason=Message(
                N_("the signature method {algorithm} is not allowed"),
                {"algorithm": str(method.get("Algorithm"))},
            ),
        )
    _no_attributes_except(reference, frozenset({"URI"}))
    if reference.get("URI") != "":
        raise SignatureReferenceError(
            str(reference.get("URI")),
            reason=Message(
                N_('ds:Reference must have URI="" (the whole document), not {uri}'),
                {"uri": repr(reference.get("URI"))},
            ),
        )
    transforms, digest_method, digest_value = _expect_children(
        reference, ("Transforms", "DigestMethod", "DigestValue")
    )
    _no_attributes_except(transforms, frozenset())
    algorithms = []
    for transform in transforms:
        if transform.tag != _ds("Transform"):
            raise SignatureTransformsError(
                reason=N_("ds:Transforms may only contain ds:Transform elements")
            )
        _no_attributes_except(transform, frozenset({"Algorithm"}))
        _leaf(transform)
        algorithms.append(transform.get("Algorithm"))
    if algorithms != [ENVELOPED, EXC_C14N]:
        raise SignatureTransformsError(
            str(algorithms),
            reason=N_(
                "the transforms must be exactly enveloped-signature followed by exclusive c14n"
            ),
        )
    _no_attributes_except(digest_method, frozenset({"Algorithm"}))
    _leaf(digest_method)
    digest_name = DIGESTS.get(digest_method.get("Algorithm", ""))
    if digest_name is None:
        raise SignatureDigestAlgorithmError(
            str(digest_method.get("Algorithm")),
            reason=Message(
                N_("the digest method {algorithm} is not allowed"),
                {"algorithm": str(digest_method.get("Algorithm"))},
            ),
        )
    _no_attributes_except(digest_value, frozenset())
    return algorithm, digest_name, _base64(digest_value, "DigestValue")


def _certificates(key_info: etree._Element) -> tuple[x509.Certificate, ...]:
    _no_attributes_except(key_info, frozenset())
    (x509_data,) = _expect_children(key_info, ("X509Data",))
    _no_attributes_except(x509_data, frozenset())
    certificates = []
    for child in x509_data:
        if child.tag != _ds("X509Certificate"):
            raise SignatureKeyInfoError(
                str(child.tag),
                reason=N_("ds:X509Data may only contain ds:X509Certificate elements"),
            )
        _no_attributes_except(child, frozenset())
        try:
            certificates.append(x509.load_der_x509_certificate(_base64(child, "X509Certificate")))
        except (ValueError, TypeError, x509.InvalidVersion):
            raise SignatureKeyInfoError(
                reason=N_("a ds:X509Certificate element does not hold a readable certificate")
            ) from None
    if not certificates or len(certificates) > MAX_CERTIFICATES:
        raise SignatureKeyInfoError(
            reason=Message(
                N_(
                    "ds:X509Data must hold the signer's certificate and at most {count} CA "
                    "certificates"
                ),
                {"count": MAX_CERTIFICATES - 1},
            )
        )
    return tuple(certificates)


def _verify_value(
    certificate: x509.Certificate, algorithm: SignatureAlgorithm, value: bytes, data: bytes
) -> None:
    try:
        key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise SignatureKeyInfoError(
            "unsupported public key", reason=N_("the certificate's key type is not supported")
        ) from None
    try:
        if algorithm.key_type == "rsa" and isinstance(key, rsa.RSAPublicKey):
            key.verify(value, data, padding.PKCS1v15(), algorithm.hash())
            return
        if algorithm.key_type == "ec" and isinstance(key, ec.EllipticCurvePublicKey):
            size = (key.curve.key_size + 7) // 8
            if len(value) != 2 * size:
                raise SignatureValueError("ECDSA value has the wrong length")
            r, s = int.from_bytes(value[:size], "big"), int.from_bytes(value[size:], "big")
            key.verify(encode_dss_signature(r, s), data, ec.ECDSA(algorithm.hash()))
            return
    except InvalidSignature:
        raise SignatureValueError("signature value does not verify") from None
    raise SignatureAlgorithmError(
        "method/key mismatch",
        reason=Message(
            N_("the signature method {algorithm} does not fit the type of the certificate's key"),
            {"algorithm": algorithm.uri},
        ),
    )


_CONTAINERS = frozenset(
    _ds(n) for n in ("Signature", "SignedInfo", "Reference", "Transforms", "KeyInfo", "X509Data")
)
_VALUES = frozenset(_ds(n) for n in ("SignatureValue", "DigestValue", "X509Certificate"))


def _check_content(signature: etree._Element) -> None:
    """Nothing but the profile: no text between elements, no elements inside values."""
    for element in signature.iter():
        tag = element.tag
        if tag in _CONTAINERS:
            if (element.text and element.text.strip()) or any(
                child.tail and child.tail.strip() for child in element
            ):
                name = etree.QName(element).localname
                raise SignatureStructureError(
                    f"text in {name}", reason=Message(N_("ds:{name} contains text"), {"name": name})
                )
        elif tag in _VALUES and len(element):
            name = etree.QName(element).localname
            raise SignatureForbiddenElementError(
                f"elements in {name}",
                reason=Message(N_("ds:{name} contains elements"), {"name": name}),
            )


def check_signature(root: etree._Element) -> SignedContent:
    """Check the profile and the cryptography of ``root``'s signature; trust is not decided here."""
    signature = locate_signature(root)
    _no_attributes_except(signature, frozenset())
    signed_info, signature_value, key_info = _expect_children(
        signature, ("SignedInfo", "SignatureValue", "KeyInfo")
    )
    algorithm, digest_name, expected_digest = _check_signed_info(signed_info)
    _check_content(signature)
    _no_attributes_except(signature_value, frozenset())
    value = _base64(signature_value, "SignatureValue")
    certificates = _certificates(key_info)
    with _detached(root, signature):
        canonical = _c14n(root.getroottree())
    if not hmac.compare_digest(_digest(digest_name, canonical), expected_digest):
        raise SignatureDigestMismatchError
    _verify_value(certificates[0], algorithm, value, _c14n(signed_info))
    signed_root = parse_canonical(canonical)
    if signed_root.tag != ROOT_TAG:
        raise SignatureReferenceError(
            reason=N_("the signed content is not an organisation document")
        )
    return SignedContent(
        root=signed_root,
        canonical=canonical,
        certificate=certificates[0],
        intermediates=certificates[1:],
        algorithm=algorithm,
        digest_algorithm=digest_name,
    )


def signed_content(data: bytes) -> SignedContent:
    """Parse ``data`` and check its signature profile and cryptography (not yet the signer)."""
    root = parse_untrusted(data)
    # The signature is looked for before the schema, so that a missing, doubled or moved
    # signature is named as such rather than as a schema violation.
    locate_signature(root)
    check_schema(root)
    return check_signature(root)
