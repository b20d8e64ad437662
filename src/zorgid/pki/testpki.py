"""A test PKI modelled on the UZI-register test hierarchy (``zorgid pki init-test``).

One test root with three issuing CAs below it, as the CIBG test environment has them:

    TEST Zorg CSP Root CA G3
    ├── TEST UZI-register Private Server CA G1      server certificates (card type S)
    ├── TEST UZI-register Zorgverlener CA G3        UZI-passes of zorgverleners (Z)
    └── TEST UZI-register Medewerker op naam CA G3  UZI-passes of medewerkers (N, M)

:class:`TestPki` issues certificates with the profile of domain-facts.md and CRLs; the demo, the
tests and people trying the system without real certificates use it. Nothing here is for
production: the CA keys are written next to the certificates.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from zorgid.core.i18n import N_
from zorgid.pki.uzi import (
    PERMANENT_IDENTIFIER_OID,
    TEST,
    UPN_OID,
    URA_NAMESPACE_OID,
    UZI_OTHERNAME_OID,
    CardType,
    OidProfile,
    encode_ia5string,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

ORGANIZATION_IDENTIFIER = x509.ObjectIdentifier("2.5.4.97")
SERVER_POLICY_OID = x509.ObjectIdentifier("2.16.528.1.1003.1.2.8.6")
TEST_AUTH_POLICY_OID = x509.ObjectIdentifier("2.16.528.1.1007.99.211")
DEFAULT_CRL_BASE_URL = "http://127.0.0.1:8000/pki/crl/"
#: CIBG publishes CRLs valid for 48 hours; the test PKI's last longer so that a test PKI made
#: today still works next week. Tests that need the real rhythm pass their own ``next_update``.
TEST_CRL_LIFETIME = dt.timedelta(days=30)
#: The password of the demo PKCS#12 files; also written next to them (test PKI only).
DEMO_PKCS12_PASSWORD = "zorgid-test"  # noqa: S105 - a published test password, by design


def new_rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    """Generate an RSA key (65537)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def new_ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    """Generate an EC key (P-256 unless told otherwise)."""
    return ec.generate_private_key(curve or ec.SECP256R1())


def _random_serial() -> int:
    # RFC 5280 allows 20 octets; 127 bits keeps the number positive, like real CAs do.
    return secrets.randbits(127) | 1


@dataclass(frozen=True)
class Issued:
    """A certificate with its private key and the CA certificates above it (nearest first)."""

    certificate: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...]


@dataclass
class TestCa:
    """A CA of the test PKI, with the serials it revoked."""

    slug: str
    certificate: x509.Certificate
    key: PrivateKey
    parent: TestCa | None
    revoked: dict[int, tuple[dt.datetime, x509.ReasonFlags]] = field(default_factory=dict)

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """This CA and its parents, nearest first."""
        up = self.parent.chain if self.parent else ()
        return (self.certificate, *up)


def _ca_name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CIBG"),
            x509.NameAttribute(ORGANIZATION_IDENTIFIER, "NTRNL-50000535"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


class TestPki:
    """The test hierarchy, able to issue UZI-profile certificates and CRLs."""

    __test__ = False  # not a pytest test class despite its name

    def __init__(
        self,
        *,
        now: dt.datetime,
        profile: OidProfile = TEST,
        crl_base_url: str = DEFAULT_CRL_BASE_URL,
        key_bits: int = 2048,
    ) -> None:
        self.now = now
        self.profile = profile
        self.crl_base_url = crl_base_url
        self.key_bits = key_bits
        self._card_oid = {card: oid for oid, card in profile.ca_oids.items()}
        start = now - dt.timedelta(days=365)
        self.root = self._make_ca("root", "TEST Zorg CSP Root CA G3", None, start, 20)
        self.server_ca = self._make_ca(
            "server-ca", "TEST UZI-register Private Server CA G1", self.root, start, 10
        )
        self.zorgverlener_ca = self._make_ca(
            "zorgverlener-ca", "TEST UZI-register Zorgverlener CA G3", self.root, start, 10
        )
        self.medewerker_ca = self._make_ca(
            "medewerker-ca", "TEST UZI-register Medewerker op naam CA G3", self.root, start, 10
        )

    @property
    def cas(self) -> tuple[TestCa, ...]:
        """All CAs, root first."""
        return (self.root, self.server_ca, self.zorgverlener_ca, self.medewerker_ca)

    def _make_ca(
        self, slug: str, common_name: str, parent: TestCa | None, start: dt.datetime, years: int
    ) -> TestCa:
        key = new_rsa_key(self.key_bits)
        name = _ca_name(common_name)
        issuer_name = parent.certificate.subject if parent else name
        signer = parent.key if parent else key
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(_random_serial())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=365 * years))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
        )
        if parent:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(parent.key.public_key()),
                critical=False,
            ).add_extension(self._crl_distribution(parent.slug), critical=False)
        certificate = builder.sign(signer, hashes.SHA256())
        return TestCa(slug=slug, certificate=certificate, key=key, parent=parent)

    def _crl_distribution(self, ca_slug: str) -> x509.CRLDistributionPoints:
        url = f"{self.crl_base_url}{ca_slug}.crl"
        return x509.CRLDistributionPoints(
            [
                x509.DistributionPoint(
                    full_name=[x509.UniformResourceIdentifier(url)],
                    relative_name=None,
                    reasons=None,
                    crl_issuer=None,
                )
            ]
        )

    def uzi_value(
        self, card_type: CardType, uzi_number: str, ura: str, role: str, agb: str = "00000000"
    ) -> str:
        """The UZI otherName text for a certificate of ``card_type``."""
        return "-".join(
            (self._card_oid[card_type], "1", uzi_number, card_type.value, ura, role, agb)
        )

    def issue_server(  # noqa: PLR0913 - the profile has this many knobs; tests turn each one
        self,
        *,
        ura: str,
        organisation: str,
        fqdn: str,
        uzi_number: str,
        key: PrivateKey | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        key_usage: x509.KeyUsage | None = None,
        uzi_value: str | None = None,
        ca: TestCa | None = None,
        permanent_identifier: bool = True,
    ) -> Issued:
        """Issue a UZI server certificate (card type S) to an organisation."""
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                x509.NameAttribute(NameOID.COMMON_NAME, fqdn),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, uzi_number),
            ]
        )
        value = uzi_value or self.uzi_value(CardType.SERVER, uzi_number, ura, "00.000")
        names: list[x509.GeneralName] = [
            x509.DNSName(fqdn),
            x509.OtherName(UZI_OTHERNAME_OID, encode_ia5string(value)),
        ]
        if permanent_identifier:
            names.append(x509.OtherName(PERMANENT_IDENTIFIER_OID, encode_permanent_identifier(ura)))
        usage = key_usage or _key_usage(digital_signature=True, key_encipherment=True)
        return self._issue(
            ca or self.server_ca,
            subject=subject,
            names=names,
            key=key,
            not_before=not_before,
            not_after=not_after,
            key_usage=usage,
            eku=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
            policy=SERVER_POLICY_OID,
        )

    def issue_pass(  # noqa: PLR0913 - as issue_server
        self,
        *,
        card_type: CardType,
        name: str,
        organisation: str,
        ura: str,
        uzi_number: str,
        role: str = "00.000",
        agb: str = "00000000",
        given_name: str | None = None,
        surname: str | None = None,
        key: PrivateKey | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> Issued:
        """Issue the authentication certificate of a UZI-pas (card type Z, N or M)."""
        attributes = [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, uzi_number),
        ]
        if given_name:
            attributes.append(x509.NameAttribute(NameOID.GIVEN_NAME, given_name))
        if surname:
            attributes.append(x509.NameAttribute(NameOID.SURNAME, surname))
        value = self.uzi_value(card_type, uzi_number, ura, role, agb)
        names: list[x509.GeneralName] = [
            x509.OtherName(UZI_OTHERNAME_OID, encode_ia5string(value)),
            x509.OtherName(UPN_OID, _der_utf8(f"{uzi_number}@{ura}")),
        ]
        ca = self.zorgverlener_ca if card_type is CardType.ZORGVERLENER else self.medewerker_ca
        return self._issue(
            ca,
            subject=x509.Name(attributes),
            names=names,
            key=key,
            not_before=not_before,
            not_after=not_after,
            key_usage=_key_usage(digital_signature=True),
            eku=[ExtendedKeyUsageOID.CLIENT_AUTH],
            policy=TEST_AUTH_POLICY_OID,
        )

    def _issue(  # noqa: PLR0913 - internal, called with keywords by the two issue_* methods
        self,
        ca: TestCa,
        *,
        subject: x509.Name,
        names: Sequence[x509.GeneralName],
        key: PrivateKey | None,
        not_before: dt.datetime | None,
        not_after: dt.datetime | None,
        key_usage: x509.KeyUsage,
        eku: list[x509.ObjectIdentifier],
        policy: x509.ObjectIdentifier,
    ) -> Issued:
        key = key or new_rsa_key(self.key_bits)
        start = not_before or self.now - dt.timedelta(days=1)
        end = not_after or start + dt.timedelta(days=3 * 365)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca.certificate.subject)
            .public_key(key.public_key())
            .serial_number(_random_serial())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(key_usage, critical=True)
            .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(
                x509.CertificatePolicies([x509.PolicyInformation(policy, None)]), critical=False
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                critical=False,
            )
            .add_extension(self._crl_distribution(ca.slug), critical=False)
            .sign(ca.key, hashes.SHA256())
        )
        return Issued(certificate=certificate, key=key, chain=ca.chain)

    def revoke(
        self,
        certificate: x509.Certificate,
        *,
        at: dt.datetime | None = None,
        reason: x509.ReasonFlags = x509.ReasonFlags.key_compromise,
    ) -> None:
        """Put ``certificate`` on its issuing CA's next CRL."""
        ca = next(c for c in self.cas if c.certificate.subject == certificate.issuer)
        ca.revoked[certificate.serial_number] = (at or self.now, reason)

    def crl(
        self,
        ca: TestCa,
        *,
        this_update: dt.datetime | None = None,
        next_update: dt.datetime | None = None,
        number: int = 1,
    ) -> x509.CertificateRevocationList:
        """A CRL of ``ca`` listing what was revoked."""
        start = this_update or self.now - dt.timedelta(hours=1)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca.certificate.subject)
            .last_update(start)
            .next_update(next_update or start + TEST_CRL_LIFETIME)
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                critical=False,
            )
        )
        for serial, (when, reason) in sorted(ca.revoked.items()):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(when)
                .add_extension(x509.CRLReason(reason), critical=False)
                .build()
            )
        return builder.sign(ca.key, hashes.SHA256())


def _key_usage(*, digital_signature: bool = False, key_encipherment: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _der_utf8(text: str) -> bytes:
    raw = text.encode("utf-8")
    return bytes([0x0C, len(raw)]) + raw if len(raw) < 0x80 else _long_tlv(0x0C, raw)  # noqa: PLR2004


def _long_tlv(tag: int, content: bytes) -> bytes:
    size = (len(content).bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + len(content).to_bytes(size, "big") + content


def _der_oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray([40 * parts[0] + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        rest = part >> 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        body.extend(reversed(chunk))
    return bytes([0x06, len(body)]) + bytes(body)


def encode_permanent_identifier(ura: str) -> bytes:
    """RFC 4043 permanentIdentifier for a URA, as CIBG puts it in server certificates."""
    content = _der_utf8(ura) + _der_oid(URA_NAMESPACE_OID)
    return bytes([0x30, len(content)]) + content


# --- init-test: the files on disk ------------------------------------------------------------


@dataclass(frozen=True)
class DemoOrganisation:
    """An organisation the test PKI issues a server certificate to."""

    ura: str
    name: str
    fqdn: str
    uzi_number: str


@dataclass(frozen=True)
class DemoPerson:
    """A person the test PKI issues a UZI-pas authentication certificate to."""

    name: str
    given_name: str
    surname: str
    card_type: CardType
    uzi_number: str
    ura: str
    organisation: str
    role: str


DEMO_ORGANISATIONS = (
    DemoOrganisation("90000123", "Huisartsenpraktijk De Linde", "his.delinde.example", "900030001"),
    DemoOrganisation("90000456", "Apotheek Het Kruis", "server.hetkruis.example", "900030002"),
)
DEMO_PEOPLE = (
    DemoPerson(
        "J. Bakker", "Johanna", "Bakker", CardType.ZORGVERLENER, "900040001", "90000123",
        "Huisartsenpraktijk De Linde", "01.015",
    ),
    DemoPerson(
        "P. de Vries", "Petra", "de Vries", CardType.MEDEWERKER_OP_NAAM, "900040002", "90000123",
        "Huisartsenpraktijk De Linde", "00.000",
    ),
)  # fmt: skip


@dataclass(frozen=True)
class WrittenFile:
    """One file init-test wrote, and what it is for."""

    path: Path
    description: str  # an English msgid with {name} (zorgid.core.i18n translates it)
    name: str = ""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if private:
        # Create the file 0600 from the start: a key must never be readable by others.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_test_pki(directory: Path, pki: TestPki) -> list[WrittenFile]:
    """Write ``pki``'s CAs, demo organisations and people and CRLs below ``directory``."""
    written: list[WrittenFile] = []

    def put(
        relative: str, data: bytes, description: str, *, name: str = "", private: bool = False
    ) -> None:
        path = directory / relative
        _write(path, data, private=private)
        written.append(WrittenFile(path, description, name))

    for ca in pki.cas:
        name = ca.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        put(f"ca/{ca.slug}.pem", _pem(ca.certificate), N_("CA certificate: {name}"), name=str(name))
        put(f"ca/private/{ca.slug}-key.pem", _key_pem(ca.key), N_("CA private key"), private=True)
    for org in DEMO_ORGANISATIONS:
        issued = pki.issue_server(
            ura=org.ura, organisation=org.name, fqdn=org.fqdn, uzi_number=org.uzi_number
        )
        base = f"organisations/{org.ura}"
        put(
            f"{base}/server-cert.pem",
            _pem(issued.certificate),
            N_("server certificate: {name}"),
            name=org.name,
        )
        put(f"{base}/server-key.pem", _key_pem(issued.key), N_("its private key"), private=True)
        put(
            f"{base}/chain.pem",
            b"".join(_pem(c) for c in issued.chain[:-1]),
            N_("its intermediate CA certificate"),
        )
        bundle = pkcs12.serialize_key_and_certificates(
            name=org.name.encode(),
            key=issued.key,
            cert=issued.certificate,
            cas=list(issued.chain[:-1]),
            encryption_algorithm=serialization.BestAvailableEncryption(
                DEMO_PKCS12_PASSWORD.encode()
            ),
        )
        put(f"{base}/server.p12", bundle, N_("certificate and key as PKCS#12"), private=True)
        put(
            f"{base}/server.p12.password",
            DEMO_PKCS12_PASSWORD.encode() + b"\n",
            N_("the PKCS#12 password"),
            private=True,
        )
    for person in DEMO_PEOPLE:
        issued = pki.issue_pass(
            card_type=person.card_type,
            name=person.name,
            organisation=person.organisation,
            ura=person.ura,
            uzi_number=person.uzi_number,
            role=person.role,
            given_name=person.given_name,
            surname=person.surname,
        )
        base = f"people/{_slug(person.name)}"
        put(
            f"{base}/auth-cert.pem",
            _pem(issued.certificate),
            N_("UZI-pas certificate: {name}"),
            name=person.name,
        )
        put(f"{base}/auth-key.pem", _key_pem(issued.key), N_("its private key"), private=True)
    for ca in pki.cas:
        crl = pki.crl(ca)
        put(f"crl/{ca.slug}.crl", crl.public_bytes(serialization.Encoding.DER), N_("CRL (DER)"))
    manifest = {
        "created": pki.now.isoformat(),
        "environment": pki.profile.environment,
        "files": {
            str(f.path.relative_to(directory)): f.description.format(name=f.name) for f in written
        },
    }
    put("manifest.json", json.dumps(manifest, indent=2).encode() + b"\n", N_("this list"))
    return written
