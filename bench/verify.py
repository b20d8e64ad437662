"""Verifications per second: zorgid's full verifier against python-xmlsec, side by side.

python-xmlsec (libxmlsec1, C) checks only the signature value and digest, with the key taken from
the certificate in the document. zorgid's verifier does all of it: hostile-input parsing, the
XSD, the signature profile, the signature, the certificate path to the pinned anchor, validity,
key usage, UZI card type, revocation by CRL, and the URA/challenge binding.

Both run in one process on the same documents, in alternating rounds (the machines here are
noisy); the figures are the medians of the rounds. Run: ``uv run python bench/verify.py``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import statistics
import time
from dataclasses import replace
from typing import TYPE_CHECKING

import xmlsec
from lxml import etree

from zorgid.core.clock import FixedClock
from zorgid.orgdoc.document import OrganisationDocument, build_tree
from zorgid.orgdoc.keys import SoftwareSigner
from zorgid.orgdoc.signature import sign_tree
from zorgid.orgdoc.verify import DocumentVerifier, Expectations
from zorgid.pki.revocation import CrlStore, RevocationChecker
from zorgid.pki.testpki import TestPki
from zorgid.pki.trust import CertificateValidator, TrustConfig

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
DSIG = "{http://www.w3.org/2000/09/xmldsig#}"


def _documents(count: int) -> tuple[list[bytes], list[str], TestPki]:
    pki = TestPki(now=NOW)
    issued = pki.issue_server(
        ura="90000123", organisation="Huisartsenpraktijk De Linde", fqdn="his.example",
        uzi_number="900030001",
    )  # fmt: skip
    signer = SoftwareSigner(issued.key, issued.certificate, issued.chain[:-1])
    docs, challenges = [], []
    for i in range(count):
        challenge = base64.urlsafe_b64encode(i.to_bytes(32, "big")).rstrip(b"=").decode()
        document = OrganisationDocument().with_values(
            {
                "Aanvraag/Aanvraagnummer": f"ZID-2026-{i:06d}", "Aanvraag/Uitdaging": challenge,
                "Aanvraag/Omgeving": "acceptatie", "Organisatie/URA": "90000123",
                "Organisatie/Naam": "Huisartsenpraktijk De Linde",
                "TechnischBeheerder/Naam": "Jan Jansen",
                "TechnischBeheerder/Email": "it@delinde.example",
                "PortaalAdministrator/Naam": "Petra de Vries",
                "PortaalAdministrator/Email": "petra@delinde.example",
                "Applicaties/Applicatie": "example-his",
            }.items()
        )  # fmt: skip
        signed = replace(document, ondertekend=NOW - dt.timedelta(minutes=1))
        docs.append(sign_tree(build_tree(signed), signer))
        challenges.append(challenge)
    return docs, challenges, pki


def _ours(pki: TestPki, *, warm: bool) -> Callable[[bytes, str], None]:
    config = TrustConfig(
        anchors=(pki.server_ca.certificate,),
        revocation=RevocationChecker(crl_sources=(CrlStore([pki.crl(pki.server_ca)]),)),
    )
    clock = FixedClock(NOW)
    shared = DocumentVerifier(validator=CertificateValidator(config), clock=clock)

    def verify(data: bytes, challenge: str) -> None:
        # Cold: a new validator per document, so no certificate result is reused.
        verifier = shared if warm else DocumentVerifier(
            validator=CertificateValidator(config), clock=clock
        )  # fmt: skip
        verifier.verify(data, expect=Expectations(ura="90000123", challenge=challenge))

    return verify


def _xmlsec(data: bytes, _challenge: str) -> None:
    root = etree.fromstring(data)
    node = xmlsec.tree.find_node(root, xmlsec.constants.NodeSignature)
    certificate = root.findtext(f".//{DSIG}X509Certificate")
    if node is None or certificate is None:
        msg = "not a signed document"
        raise ValueError(msg)
    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_memory(
        base64.b64decode(certificate), xmlsec.constants.KeyDataFormatCertDer
    )
    context.verify(node)


def _rate(
    function: Callable[[bytes, str], None], docs: Sequence[bytes], challenges: Sequence[str]
) -> float:
    start = time.perf_counter()
    for data, challenge in zip(docs, challenges, strict=True):
        function(data, challenge)
    return len(docs) / (time.perf_counter() - start)


def main() -> None:
    """Measure and print the rates and their ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    docs, challenges, pki = _documents(args.documents)
    contenders = {
        "zorgid full verifier (warm)": _ours(pki, warm=True),
        "zorgid full verifier (cold)": _ours(pki, warm=False),
        "python-xmlsec signature only": _xmlsec,
    }
    for function in contenders.values():  # warm up, and prove each accepts the documents
        function(docs[0], challenges[0])
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.rounds):
        for name, function in contenders.items():
            rates[name].append(_rate(function, docs, challenges))
    medians = {name: statistics.median(values) for name, values in rates.items()}
    baseline = medians["python-xmlsec signature only"]
    print(f"{args.documents} documents x {args.rounds} alternating rounds (median)")
    for name, rate in medians.items():
        print(f"  {name:32s} {rate:9.0f} verifications/s   ratio to xmlsec {rate / baseline:5.2f}x")


if __name__ == "__main__":
    main()
