"""Every attack class of security.md's "Signed XML" section that the signature layer stops.

Each attack starts from a genuinely signed document and, where the attack needs it, is signed
again correctly (``resign``), so that only the profile can be what rejects it. Certificate and
binding attacks are in test_verifier.py.
"""

from __future__ import annotations

import base64
import copy
import http.server
import os
import threading
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from tests.support.orgdoc import ds, dump, find, parse, resign, sign_document
from zorgid.errors import ZorgidError
from zorgid.orgdoc.document import MAX_DOCUMENT_BYTES, NS, _parser, from_tree
from zorgid.orgdoc.signature import EXC_C14N, signed_content
from zorgid.pki.testpki import Issued, new_rsa_key

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def code_of(data: bytes) -> str:
    with pytest.raises(ZorgidError) as caught:
        signed_content(data)
    return caught.value.code


def od(name: str) -> str:
    return f"{{{NS}}}{name}"


def test_the_genuine_document_passes_and_yields_its_data(signed: bytes) -> None:
    content = signed_content(signed)
    assert from_tree(content.root).ura == "90000123"


def test_an_ec_signed_document_passes(ec_server: Issued) -> None:
    content = signed_content(sign_document(ec_server))
    assert content.algorithm.key_type == "ec"


# --- signature exclusion and placement ------------------------------------------------------------


def test_signature_exclusion_is_rejected(signed: bytes) -> None:
    root = parse(signed)
    root.remove(find(root, ds("Signature")))
    assert code_of(dump(root)) == "signature_missing"


def test_a_second_signature_is_rejected(signed: bytes) -> None:
    root = parse(signed)
    find(root, od("Applicaties")).append(copy.deepcopy(find(root, ds("Signature"))))
    assert code_of(dump(root)) == "signature_multiple"


def test_a_signature_that_is_not_the_last_child_is_rejected(signed: bytes) -> None:
    root = parse(signed)
    signature = find(root, ds("Signature"))
    root.insert(0, signature)
    assert code_of(dump(root)) == "signature_misplaced"


def test_a_signature_moved_into_a_child_element_is_rejected(signed: bytes, server: Issued) -> None:
    root = parse(signed)
    find(root, od("Organisatie")).append(find(root, ds("Signature")))
    assert code_of(resign(root, server.key)) == "signature_misplaced"


# --- wrapping (XSW) -------------------------------------------------------------------------------


def test_xsw_pristine_copy_in_object_with_forged_data_is_rejected(signed: bytes) -> None:
    """The signed original hides in ds:Object while the visible data is the attacker's."""
    root = parse(signed)
    pristine = copy.deepcopy(root)
    pristine.remove(find(pristine, ds("Signature")))
    find(root, od("Organisatie"), od("URA")).text = "99999999"
    obj = etree.SubElement(find(root, ds("Signature")), ds("Object"))
    obj.append(pristine)
    find(root, ds("Signature"), ds("SignedInfo"), ds("Reference")).set("URI", "#orig")
    assert code_of(dump(root)) == "signature_forbidden_element"


def test_xsw_unsigned_data_in_object_is_rejected(signed: bytes, server: Issued) -> None:
    root = parse(signed)
    obj = etree.SubElement(find(root, ds("Signature")), ds("Object"))
    etree.SubElement(obj, od("URA")).text = "99999999"
    assert code_of(resign(root, server.key)) == "signature_forbidden_element"


def test_xsw_evil_root_wrapping_the_signed_document_is_rejected(signed: bytes) -> None:
    original = parse(signed)
    evil = etree.Element(od("Organisatiedocument"), nsmap={None: NS})
    evil.set("versie", "1")
    for child in original:
        if child.tag != ds("Signature"):
            evil.append(copy.deepcopy(child))
    find(evil, od("Organisatie"), od("URA")).text = "99999999"
    find(evil, od("Applicaties")).append(original)
    assert code_of(dump(evil)) == "signature_misplaced"


def test_xsw_signed_document_as_a_sibling_of_forged_data_is_rejected(signed: bytes) -> None:
    original = parse(signed)
    forged = copy.deepcopy(original)
    forged.remove(find(forged, ds("Signature")))
    find(forged, od("Organisatie"), od("Naam")).text = "Nep"
    wrapper = etree.Element("Wrapper")
    wrapper.extend([forged, original])
    assert code_of(dump(wrapper)) == "signature_misplaced"


def test_xsw_extension_element_carrying_forged_data_is_rejected(
    signed: bytes, server: Issued
) -> None:
    root = parse(signed)
    extra = etree.Element(od("Organisatie"))
    etree.SubElement(extra, od("URA")).text = "99999999"
    find(root, od("Organisatie")).addnext(extra)
    assert code_of(resign(root, server.key)) == "document_schema"


def test_id_attributes_and_id_references_are_rejected(signed: bytes, server: Issued) -> None:
    root = parse(signed)
    find(root, od("Organisatie")).set("Id", "org")
    find(root, ds("Signature"), ds("SignedInfo"), ds("Reference")).set("URI", "#org")
    assert code_of(resign(root, server.key)) == "document_schema"


def test_duplicate_id_attributes_on_the_signature_are_rejected(
    signed: bytes, server: Issued
) -> None:
    root = parse(signed)
    find(root, ds("Signature")).set("Id", "s")
    find(root, ds("Signature"), ds("SignedInfo")).set("Id", "s")
    assert code_of(resign(root, server.key)) == "signature_structure"


def test_id_based_reference_is_rejected(signed: bytes, server: Issued) -> None:
    root = parse(signed)
    find(root, ds("Signature"), ds("SignedInfo"), ds("Reference")).set("URI", "#xpointer(/)")
    assert code_of(resign(root, server.key)) == "signature_reference"


# --- references -----------------------------------------------------------------------------------


def test_two_references_are_rejected(signed: bytes, server: Issued) -> None:
    root = parse(signed)
    signed_info = find(root, ds("Signature"), ds("SignedInfo"))
    signed_info.append(copy.deepcopy(find(signed_info, ds("Reference"))))
    assert code_of(resign(root, server.key)) == "signature_reference"


def test_a_partial_reference_is_rejected(signed: bytes, server: Issued) -> None:
    root = parse(signed)
    find(root, ds("Signature"), ds("SignedInfo"), ds("Reference")).set("URI", "#Organisatie")
    assert code_of(resign(root, server.key)) == "signature_reference"


def test_a_reference_without_uri_is_rejected(signed: bytes, server: Issued) -> None:
    root = parse(signed)
    del find(root, ds("Signature"), ds("SignedInfo"), ds("Reference")).attrib["URI"]
    assert code_of(resign(root, server.key)) == "signature_reference"


# --- key confusion --------------------------------------------------------------------------------


def test_genuine_certificate_beside_an_attacker_signature_is_rejected(signed: bytes) -> None:
    root = parse(signed)
    find(root, od("Organisatie"), od("Naam")).text = "Nep"
    forged = resign(root, new_rsa_key())
    assert code_of(forged) == "signature_value_invalid"


def test_attacker_certificate_after_the_genuine_one_does_not_help(
    signed: bytes, other_server: Issued
) -> None:
    root = parse(signed)
    x509_data = find(root, ds("Signature"), ds("KeyInfo"), ds("X509Data"))
    cert = etree.Element(ds("X509Certificate"))
    cert.text = base64.b64encode(other_server.certificate.public_bytes(Encoding.DER)).decode()
    x509_data.append(cert)
    find(root, od("Organisatie"), od("Naam")).text = "Nep"
    assert code_of(resign(root, other_server.key)) == "signature_value_invalid"


def test_key_value_instead_of_a_certificate_is_rejected(signed: bytes, server: Issued) -> None:
    root = parse(signed)
    key_info = find(root, ds("Signature"), ds("KeyInfo"))
    key_info.clear()
    etree.SubElement(etree.SubElement(key_info, ds("KeyValue")), ds("RSAKeyValue"))
    assert code_of(resign(root, server.key)) == "signature_forbidden_element"


def test_hmac_keyed_with_the_public_key_is_rejected(signed: bytes, server: Issued) -> None:
    root = parse(signed)
    method = find(root, ds("Signature"), ds("SignedInfo"), ds("SignatureMethod"))
    method.set("Algorithm", "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256")
    assert code_of(resign(root, server.key)) == "signature_algorithm"


def test_retrieval_method_is_rejected(signed: bytes, server: Issued) -> None:
    root = parse(signed)
    key_info = find(root, ds("Signature"), ds("KeyInfo"))
    etree.SubElement(key_info, ds("RetrievalMethod"), URI="http://127.0.0.1:9/key")
    assert code_of(resign(root, server.key)) == "signature_forbidden_element"


def test_manifest_is_rejected(signed: bytes, server: Issued) -> None:
    root = parse(signed)
    obj = etree.SubElement(find(root, ds("Signature")), ds("Manifest"))
    etree.SubElement(obj, ds("Reference"), URI="")
    assert code_of(resign(root, server.key)) == "signature_forbidden_element"


def test_an_ec_signature_method_with_an_rsa_certificate_is_rejected(signed: bytes) -> None:
    root = parse(signed)
    method = find(root, ds("Signature"), ds("SignedInfo"), ds("SignatureMethod"))
    method.set("Algorithm", "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256")
    signature_value = find(root, ds("Signature"), ds("SignatureValue"))
    signature_value.text = base64.b64encode(b"\x01" * 64).decode()
    assert code_of(dump(root)) == "signature_algorithm"


# --- algorithm downgrade --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("element", "algorithm", "expected"),
    [
        ("DigestMethod", "http://www.w3.org/2000/09/xmldsig#sha1", "signature_digest_algorithm"),
        ("SignatureMethod", "http://www.w3.org/2000/09/xmldsig#rsa-sha1", "signature_algorithm"),
        ("SignatureMethod", "http://www.w3.org/2000/09/xmldsig#hmac-sha1", "signature_algorithm"),
        (
            "CanonicalizationMethod",
            "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
            "signature_canonicalization",
        ),
        (
            "CanonicalizationMethod",
            "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
            "signature_canonicalization",
        ),
    ],
)
def test_downgraded_algorithms_are_rejected(
    signed: bytes, server: Issued, element: str, algorithm: str, expected: str
) -> None:
    root = parse(signed)
    next(root.iter(ds(element))).set("Algorithm", algorithm)
    assert code_of(resign(root, server.key)) == expected


@pytest.mark.parametrize(
    "transforms",
    [
        ["http://www.w3.org/TR/1999/REC-xslt-19991116"],
        [
            "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
            "http://www.w3.org/TR/1999/REC-xpath-19991116",
        ],
        [
            "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
            "http://www.w3.org/2000/09/xmldsig#base64",
        ],
        ["http://www.w3.org/2000/09/xmldsig#enveloped-signature", EXC_C14N, EXC_C14N],
        [EXC_C14N, "http://www.w3.org/2000/09/xmldsig#enveloped-signature"],
        [EXC_C14N],
    ],
    ids=["xslt", "xpath", "base64", "extra", "order", "missing-enveloped"],
)
def test_unknown_extra_or_reordered_transforms_are_rejected(
    signed: bytes, transforms: list[str]
) -> None:
    root = parse(signed)
    element = next(root.iter(ds("Transforms")))
    element.clear()
    for algorithm in transforms:
        etree.SubElement(element, ds("Transform"), Algorithm=algorithm)
    assert code_of(dump(root)) == "signature_transforms"


def test_a_transform_with_parameters_is_rejected(signed: bytes) -> None:
    root = parse(signed)
    transform = list(root.iter(ds("Transform")))[1]
    etree.SubElement(transform, ds("XPath")).text = "not(ancestor-or-self::ds:Signature)"
    assert code_of(dump(root)) == "signature_structure"


# --- comments, processing instructions, namespaces ------------------------------------------------


def test_a_comment_splitting_a_text_node_is_rejected(signed: bytes) -> None:
    # CVE-2017-11427: with c14n-without-comments the comment would not change the digest.
    data = signed.replace(b"<URA>90000123</URA>", b"<URA>9000<!---->0123</URA>")
    assert code_of(data) == "document_comment"


def test_a_comment_outside_the_root_is_rejected(signed: bytes) -> None:
    assert code_of(signed + b"<!-- hello -->") == "document_comment"


def test_a_processing_instruction_is_rejected(signed: bytes) -> None:
    data = signed.replace(b"<URA>90000123</URA>", b"<URA>9000<?evil x?>0123</URA>")
    assert code_of(data) == "document_processing_instruction"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("http://www.w3.org/2000/09/xmldsig", "document_namespace"),
        ("https://www.w3.org/2000/09/xmldsig#", "document_namespace"),
        ("http://www.w3.org/2000/09/xmldsig#/", "document_namespace"),
        ("xmldsig", "document_namespace"),
        # libxml2 itself refuses a namespace URI with a zero-width space.
        ("http://www.w3.org/2000/09/xmldsig#\u200b", "document_not_well_formed"),
    ],
    ids=["no-hash", "https", "trailing-slash", "relative", "zero-width"],
)
def test_look_alike_and_relative_signature_namespaces_are_rejected(
    signed: bytes, uri: str, expected: str
) -> None:
    data = signed.replace(
        b'xmlns:ds="http://www.w3.org/2000/09/xmldsig#"', f'xmlns:ds="{uri}"'.encode()
    )
    assert code_of(data) == expected


def test_a_character_reference_in_the_namespace_uri_is_the_same_namespace(signed: bytes) -> None:
    data = signed.replace(
        b'xmlns:ds="http://www.w3.org/2000/09/xmldsig#"',
        b'xmlns:ds="http://www.w3.org/2000/09/xmldsig&#x23;"',
    )
    assert from_tree(signed_content(data).root).ura == "90000123"


def test_a_relative_document_namespace_is_rejected(signed: bytes) -> None:
    data = signed.replace(
        b'xmlns="urn:zorgid:organisatiedocument:1"', b'xmlns="organisatiedocument"'
    )
    assert code_of(data) == "document_namespace"


# --- parser attacks -------------------------------------------------------------------------------


class _CountingHandler(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'<!ENTITY x "pwned">')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def watcher() -> Iterator[str]:
    """A loopback HTTP server that counts every request made to it."""
    _CountingHandler.hits = 0
    server = http.server.HTTPServer(("127.0.0.1", 0), _CountingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/evil.dtd"
    server.shutdown()


def _with_doctype(signed: bytes, doctype: str) -> bytes:
    head, _, body = signed.partition(b"?>")
    return head + b"?>\n" + doctype.encode() + body


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE Organisatiedocument [<!ENTITY e "x">]>',
        '<!DOCTYPE Organisatiedocument [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
        (
            '<!DOCTYPE lolz [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
            '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        ),
        '<!DOCTYPE q [<!ENTITY big "' + "x" * 50_000 + '">]>',
        "<!doctype Organisatiedocument>",
    ],
    ids=["internal-entity", "xxe", "billion-laughs", "quadratic", "lowercase"],
)
def test_any_doctype_is_rejected_before_parsing(signed: bytes, doctype: str) -> None:
    assert code_of(_with_doctype(signed, doctype)) == "document_doctype"


def test_an_external_dtd_is_never_fetched(signed: bytes, watcher: str) -> None:
    data = _with_doctype(signed, f'<!DOCTYPE Organisatiedocument SYSTEM "{watcher}">')
    assert code_of(data) == "document_doctype"
    assert _CountingHandler.hits == 0


def test_an_external_entity_in_utf16_is_refused_without_fetching(
    signed: bytes, watcher: str
) -> None:
    text = _with_doctype(signed, f'<!DOCTYPE x [<!ENTITY e SYSTEM "{watcher}">]>').decode()
    data = text.replace("UTF-8", "UTF-16").encode("utf-16")
    assert code_of(data) == "document_encoding"
    assert _CountingHandler.hits == 0


def test_a_not_well_formed_document_is_rejected(signed: bytes) -> None:
    assert code_of(signed[: len(signed) // 2]) == "document_not_well_formed"


def test_an_oversized_document_is_rejected_before_parsing() -> None:
    data = b"<a>" + b"x" * MAX_DOCUMENT_BYTES + b"</a>"
    assert code_of(data) == "document_too_large"


def test_deep_nesting_is_rejected(signed: bytes) -> None:
    deep = "<x>" * 40 + "</x>" * 40
    data = signed.replace(b"<Applicatie>example-his</Applicatie>", deep.encode())
    assert code_of(data) == "document_too_deep"


def test_nesting_beyond_the_parser_limit_is_rejected_cleanly() -> None:
    data = b"<a>" * 5000 + b"</a>" * 5000
    assert code_of(data) in {"document_not_well_formed", "document_too_deep"}


def test_empty_and_binary_input_are_rejected() -> None:
    assert code_of(b"") == "document_not_well_formed"
    assert code_of(b"\x00\xff\xfe") == "document_encoding"


# --- tampering ------------------------------------------------------------------------------------


def test_changed_content_is_detected(signed: bytes) -> None:
    assert code_of(signed.replace(b"De Linde", b"De Eik")) == "signature_digest_mismatch"


def test_changed_signed_info_is_detected(signed: bytes) -> None:
    root = parse(signed)
    digest = next(root.iter(ds("DigestValue")))
    digest.text = base64.b64encode(b"\x00" * 32).decode()
    assert code_of(dump(root)) == "signature_digest_mismatch"


def test_a_garbled_certificate_is_rejected(signed: bytes) -> None:
    root = parse(signed)
    next(root.iter(ds("X509Certificate"))).text = base64.b64encode(b"not a certificate").decode()
    assert code_of(dump(root)) == "signature_key_info"


def test_data_is_read_from_the_signed_bytes_only(signed: bytes) -> None:
    content = signed_content(signed)
    assert content.root is not None
    assert b"<ds:Signature" not in content.canonical
    assert from_tree(content.root).naam == "Huisartsenpraktijk De Linde"


def test_an_unused_foreign_namespace_declaration_is_rejected(signed: bytes) -> None:
    data = signed.replace(b"<Aanvraag>", b'<Aanvraag xmlns:x="http://evil.example/">')
    assert code_of(data) == "document_namespace"


def test_an_attribute_in_the_predeclared_xml_namespace_is_rejected(signed: bytes) -> None:
    # xml:base or xml:lang need no declaration, so only the parsed tree shows them.
    data = signed.replace(b"<URA>", b'<URA xml:base="http://evil.example/">')
    assert code_of(data) == "document_namespace"


# --- encodings and the parser's last line of defence --------------------------------------------


def test_many_namespace_like_tokens_are_refused_quickly() -> None:
    # Once a quadratic regular expression: 252 KiB of "xmlns:" took minutes.
    data = b"<a " + b"xmlns:" * 43000 + b"/>"
    assert code_of(data) == "document_not_well_formed"


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-32-le", "utf-16-be"])
def test_documents_in_other_encodings_without_a_bom_are_refused(signed: bytes, codec: str) -> None:
    text = signed.decode().split("?>", 1)[1].lstrip()
    assert code_of(text.encode(codec)) == "document_encoding"


def test_a_doctype_hidden_in_utf16_never_reaches_the_parser(signed: bytes, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # reading it would hang: the test would never end
    text = signed.decode().replace(
        "encoding='UTF-8'?>", f"encoding='UTF-16'?><!DOCTYPE x SYSTEM '{fifo}'>"
    )
    assert code_of(text.encode("utf-16-le")) == "document_encoding"


def test_the_parser_itself_reads_no_external_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.dtd"
    secret.write_text('<!ENTITY leak "the secret">')
    data = f'<!DOCTYPE a SYSTEM "{secret}"><a>&leak;</a>'.encode()
    # Bypass parse_untrusted's own DOCTYPE refusal to test the parser underneath it.
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError:
        return
    assert "the secret" not in etree.tostring(root, encoding="unicode")


def test_xml_1_1_is_refused(signed: bytes) -> None:
    assert (
        code_of(signed.replace(b"version='1.0'", b"version='1.1'", 1)) == "document_not_well_formed"
    )


def test_a_certificate_with_an_unknown_key_algorithm_is_refused(
    signed: bytes, server: Issued
) -> None:
    der = server.certificate.public_bytes(Encoding.DER)
    rsa_encryption = bytes.fromhex("2a864886f70d010101")
    assert der.count(rsa_encryption) == 1
    odd = der.replace(rsa_encryption, bytes.fromhex("2a864886f70d010107"))
    root = parse(signed)
    next(root.iter(ds("X509Certificate"))).text = base64.b64encode(odd).decode()
    assert code_of(dump(root)) == "signature_key_info"


@pytest.mark.parametrize(
    ("where", "what", "expected"),
    [
        ("SignatureValue", "element", "signature_forbidden_element"),
        ("X509Certificate", "element", "signature_forbidden_element"),
        ("DigestValue", "element", "signature_forbidden_element"),
        ("KeyInfo", "text", "signature_structure"),
        ("SignedInfo", "text", "signature_structure"),
        ("Transforms", "tail", "signature_structure"),
    ],
)
def test_nothing_may_hide_inside_the_signature(
    signed: bytes, where: str, what: str, expected: str
) -> None:
    root = parse(signed)
    element = next(root.iter(ds(where)))
    if what == "element":
        etree.SubElement(element, ds("Object")).text = "hidden"
    elif what == "text":
        element.text = "hidden" + (element.text or "")
    else:
        element[0].tail = "hidden"
    assert code_of(dump(root)) == expected
