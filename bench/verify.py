"""Verifications per second: zorgid's full verifier against python-xmlsec, side by side.

python-xmlsec (libxmlsec1, C) checks only the signature value and digest, with the key taken from
the certificate in the document. zorgid's verifier does all of it: hostile-input parsing, the
XSD, the signature profile, the signature, the certificate path to the pinned anchor, validity,
key usage, UZI card type, revocation by CRL, and the URA/challenge binding.

Two zorgid figures: every document signed by another organisation (no certificate result can be
reused: the honest figure for registrations), and all by one organisation (the validated
certificate is reused, as when one organisation sends again). All run in one process on the same
kind of documents, in alternating rounds (the machines here are noisy); the figures are the
medians of the rounds. Run: ``uv run python bench/verify.py``.
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
URA = "90000123"


def _documents(pki: TestPki, count: int, *, organisations: int) -> tuple[list[bytes], list[str]]:
    """``count`` signed documents from ``organisations`` different certificates, in turn."""
    signers = []
    for i in range(organisations):
        issued = pki.issue_server(
            ura=URA,
            organisation="Huisartsenpraktijk De Linde",
            fqdn=f"his{i}.example",
            uzi_number=f"9000{i:05d}",
        )
        signers.append(SoftwareSigner(issued.key, issued.certificate, issued.chain[:-1]))
    docs, challenges = [], []
    for i in range(count):
        challenge = base64.urlsafe_b64encode(i.to_bytes(32, "big")).rstrip(b"=").decode()
        values = {
            "Aanvraag/Aanvraagnummer": f"ZID-2026-{i:06d}",
            "Aanvraag/Uitdaging": challenge,
            "Aanvraag/Omgeving": "acceptatie",
            "Organisatie/URA": URA,
            "Organisatie/Naam": "Huisartsenpraktijk De Linde",
            "TechnischBeheerder/Naam": "Jan Jansen",
            "TechnischBeheerder/Email": "it@delinde.example",
            "PortaalAdministrator/Naam": "Petra de Vries",
            "PortaalAdministrator/Email": "petra@delinde.example",
            "Applicaties/Applicatie": "example-his",
        }
        document = replace(
            OrganisationDocument().with_values(values.items()),
            ondertekend=NOW - dt.timedelta(minutes=1),
        )
        docs.append(sign_tree(build_tree(document), signers[i % organisations]))
        challenges.append(challenge)
    return docs, challenges


class Ours:
    """zorgid's verifier as the service runs it: built once, then used for every document."""

    def __init__(self, pki: TestPki) -> None:
        self.config = TrustConfig(
            anchors=(pki.server_ca.certificate,),
            revocation=RevocationChecker(crl_sources=(CrlStore([pki.crl(pki.server_ca)]),)),
        )
        self.new_round()

    def new_round(self) -> None:
        """Forget every validated certificate, as if none had been seen before."""
        validator = CertificateValidator(self.config)
        self.verifier = DocumentVerifier(validator=validator, clock=FixedClock(NOW))

    def __call__(self, data: bytes, challenge: str) -> None:
        """Verify one document completely; raises when it is not valid."""
        self.verifier.verify(data, expect=Expectations(ura=URA, challenge=challenge))


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
    parser = argparse.ArgumentParser(description="zorgid verifier vs python-xmlsec")
    parser.add_argument("--documents", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    pki = TestPki(now=NOW)
    many, many_challenges = _documents(pki, args.documents, organisations=args.documents)
    one, one_challenges = _documents(pki, args.documents, organisations=1)
    ours = Ours(pki)
    contenders: dict[str, tuple[Callable[[bytes, str], None], list[bytes], list[str]]] = {
        "zorgid, each a new organisation": (ours, many, many_challenges),
        "zorgid, one organisation": (ours, one, one_challenges),
        "python-xmlsec, signature only": (_xmlsec, many, many_challenges),
    }
    for function, docs, challenges in contenders.values():  # each must accept every document
        for data, challenge in zip(docs, challenges, strict=True):
            function(data, challenge)
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.rounds):
        for name, (function, docs, challenges) in contenders.items():
            if function is ours:
                ours.new_round()
                if docs is one:
                    ours(one[0], one_challenges[0])  # the one organisation has been seen before
            rates[name].append(_rate(function, docs, challenges))
    medians = {name: statistics.median(values) for name, values in rates.items()}
    baseline = medians["python-xmlsec, signature only"]
    print(f"{args.documents} documents x {args.rounds} alternating rounds (median)")
    for name, rate in medians.items():
        print(f"  {name:34s} {rate:8.0f} verifications/s   ratio to xmlsec {rate / baseline:5.2f}x")


if __name__ == "__main__":
    main()
