from __future__ import annotations

import datetime as dt
import http.server
import secrets
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from tests.support.pki import NOW, issue_server
from zorgid.pki.errors import (
    CrlUnreadableError,
    OcspResponseError,
    RevocationUnknownError,
)
from zorgid.pki.revocation import (
    MAX_CRL_BYTES,
    CrlCandidates,
    CrlFileSource,
    CrlStore,
    CrlUrlSource,
    OcspClient,
    RevocationChecker,
    RevocationState,
    RevocationStatus,
    crl_urls,
    fetch_url,
    ocsp_url,
)
from zorgid.pki.testpki import PrivateKey, TestPki, new_ec_key

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from zorgid.pki.testpki import TestCa

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


@dataclass
class MovableClock:
    moment: dt.datetime

    def now(self) -> dt.datetime:
        return self.moment


def build_crl(  # noqa: PLR0913 - each knob is a case under test
    ca: TestCa,
    *,
    revoked: dict[int, dt.datetime] | None = None,
    this_update: dt.datetime = NOW - HOUR,
    next_update: dt.datetime = NOW + DAY,
    number: int | None = 1,
    extensions: tuple[tuple[x509.ExtensionType, bool], ...] = (),
    entry_extensions: tuple[tuple[x509.ExtensionType, bool], ...] = (),
    issuer_name: x509.Name | None = None,
    key: PrivateKey | None = None,
) -> x509.CertificateRevocationList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer_name or ca.certificate.subject)
        .last_update(this_update)
        .next_update(next_update)
    )
    if number is not None:
        builder = builder.add_extension(x509.CRLNumber(number), critical=False)
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    for serial, when in (revoked or {}).items():
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
        for extension, critical in entry_extensions:
            entry = entry.add_extension(extension, critical=critical)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(key or ca.key, hashes.SHA256())


def crl_checker(*crls: x509.CertificateRevocationList) -> RevocationChecker:
    return RevocationChecker(crl_sources=[CrlStore(crls)])


# --- CRLs ----------------------------------------------------------------------------------


def test_certificate_not_on_a_current_crl_is_good(pki: TestPki) -> None:
    leaf = issue_server(pki).certificate
    status = crl_checker(build_crl(pki.server_ca)).check(leaf, pki.server_ca.certificate, NOW)
    assert status.state is RevocationState.GOOD
    assert status.source == "crl"
    assert status.this_update == NOW - HOUR
    assert status.next_update == NOW + DAY
    assert status.revoked_at is None


def test_revoked_leaf_is_revoked_with_date_and_reason(pki: TestPki) -> None:
    leaf = issue_server(pki).certificate
    pki.revoke(leaf, at=NOW - 2 * HOUR, reason=x509.ReasonFlags.key_compromise)
    status = crl_checker(pki.crl(pki.server_ca)).check(leaf, pki.server_ca.certificate, NOW)
    assert status.state is RevocationState.REVOKED
    assert status.revoked_at == NOW - 2 * HOUR
    assert status.reason is x509.ReasonFlags.key_compromise


def test_revoked_intermediate_is_revoked_on_the_roots_crl() -> None:
    own = TestPki(now=NOW)  # revoking a CA must not leak into other tests
    own.revoke(own.server_ca.certificate, at=NOW - DAY, reason=x509.ReasonFlags.ca_compromise)
    checker = crl_checker(own.crl(own.root))
    status = checker.check(own.server_ca.certificate, own.root.certificate, NOW)
    assert status.state is RevocationState.REVOKED
    assert status.reason is x509.ReasonFlags.ca_compromise


def test_revocation_after_the_moment_checked_leaves_the_certificate_good(pki: TestPki) -> None:
    leaf = issue_server(pki).certificate
    crl = build_crl(pki.server_ca, revoked={leaf.serial_number: NOW + dt.timedelta(minutes=10)})
    status = crl_checker(crl).check(leaf, pki.server_ca.certificate, NOW)
    assert status.state is RevocationState.GOOD
    assert status.revoked_at == NOW + dt.timedelta(minutes=10)
    # The status must not be reused past the revocation.
    assert status.holds_until < NOW + dt.timedelta(minutes=10)


def test_revocation_at_the_very_moment_checked_counts(pki: TestPki) -> None:
    leaf = issue_server(pki).certificate
    crl = build_crl(pki.server_ca, revoked={leaf.serial_number: NOW})
    assert crl_checker(crl).check(leaf, pki.server_ca.certificate, NOW).state is (
        RevocationState.REVOKED
    )


def test_invalidity_date_before_the_moment_checked_revokes(pki: TestPki) -> None:
    leaf = issue_server(pki).certificate
    crl = build_crl(
        pki.server_ca,
        revoked={leaf.serial_number: NOW + HOUR},
        entry_extensions=((x509.InvalidityDate(NOW - DAY), False),),
    )
    status = crl_checker(crl).check(leaf, pki.server_ca.certificate, NOW)
    assert status.state is RevocationState.REVOKED
    assert status.revoked_at == NOW - DAY


def test_crl_of_another_issuer_is_not_used(pki: TestPki) -> None:
    leaf = issue_server(pki).certificate
    checker = crl_checker(build_crl(pki.zorgverlener_ca))
    with pytest.raises(RevocationUnknownError) as caught:
        checker.check(leaf, pki.server_ca.certificate, NOW)
    assert caught.value.code == "certificate_revocation_unknown"


def test_crl_naming_the_issuer_but_signed_by_another_key_is_not_used(
    pki: TestPki, other_pki: TestPki
) -> None:
    leaf = issue_server(pki).certificate
    forged = build_crl(other_pki.server_ca)
    assert forged.issuer == pki.server_ca.certificate.subject
    with pytest.raises(RevocationUnknownError) as caught:
        crl_checker(forged).check(leaf, pki.server_ca.certificate, NOW)
    assert "signature" in caught.value.detail


def test_crl_with_a_damaged_signature_is_not_used(pki: TestPki) -> None:
    leaf = issue_server(pki).certificate
    der = bytearray(build_crl(pki.server_ca).public_bytes(Encoding.DER))
    der[-1] ^= 0x01  # the signature is the last field of a CRL
    damaged = x509.load_der_x509_crl(bytes(der))
    with pytest.raises(RevocationUnknownError) as caught:
        crl_checker(damaged).check(leaf, pki.server_ca.certificate, NOW)
    assert "signature" in caught.value.detail


def test_crl_claiming_another_issuer_name_is_not_used(pki: TestPki) -> None:
    leaf = issue_server(pki).certificate
    renamed = build_crl(pki.server_ca, issuer_name=pki.zorgverlener_ca.certificate.subject)
    checker = RevocationChecker(crl_sources=[CrlStore([renamed])])
    # Offered by a source that does not filter by name, the checker still refuses it.
    source_all = _AllCrls([renamed])
    with pytest.raises(RevocationUnknownError):
        checker.check(leaf, pki.server_ca.certificate, NOW)
    with pytest.raises(RevocationUnknownError) as caught:
        RevocationChecker(crl_sources=[source_all]).check(leaf, pki.server_ca.certificate, NOW)
    assert "another CA" in caught.value.detail


@dataclass
class _AllCrls:
    crls: list[x509.CertificateRevocationList]
    generation: int = 0

    def lookup(
        self,
        certificate: x509.Certificate,  # noqa: ARG002 - the CrlSource protocol's signature
        issuer: x509.Certificate,  # noqa: ARG002 - as above
    ) -> CrlCandidates:
        return CrlCandidates(tuple(self.crls))


def test_expired_crl_is_not_used(pki: TestPki) -> None:
    leaf = issue_server(pki).certificate
    expired = build_crl(pki.server_ca, this_update=NOW - 3 * DAY, next_update=NOW - DAY)
    with pytest.raises(RevocationUnknownError) as caught:
        crl_checker(expired).check(leaf, pki.server_ca.certificate, NOW)
    assert "expired" in caught.value.detail


def test_crl_issued_after_the_moment_checked_is_not_used(pki: TestPki) -> None:
    leaf = issue_server(pki).certificate
    future = build_crl(pki.server_ca, this_update=NOW + HOUR, next_update=NOW + DAY)
    with pytest.raises(RevocationUnknownError) as caught:
        crl_checker(future).check(leaf, pki.server_ca.certificate, NOW)
    assert "after the moment" in caught.value.detail


def test_no_crl_at_all_is_unknown(pki: TestPki) -> None:
    leaf = issue_server(pki).certificate
    with pytest.raises(RevocationUnknownError) as caught:
        crl_checker().check(leaf, pki.server_ca.certificate, NOW)
    assert caught.value.code == "certificate_revocation_unknown"
    assert caught.value.params["reason"]


def test_newest_current_crl_wins_whatever_the_order(pki: TestPki) -> None:
    leaf = issue_server(pki).certificate
    older = build_crl(pki.server_ca, number=7, this_update=NOW - 2 * HOUR)
    newer = build_crl(
        pki.server_ca, number=8, this_update=NOW - HOUR, revoked={leaf.serial_number: NOW - HOUR}
    )
    for crls in ((older, newer), (newer, older)):
        status = crl_checker(*crls).check(leaf, pki.server_ca.certificate, NOW)
        assert status.state is RevocationState.REVOKED


def test_higher_crl_number_wins_over_later_last_update(pki: TestPki) -> None:
    leaf = issue_server(pki).certificate
    numbered_higher = build_crl(
        pki.server_ca, number=9, this_update=NOW - 2 * HOUR, revoked={leaf.serial_number: NOW - DAY}
    )
    numbered_lower = build_crl(pki.server_ca, number=3, this_update=NOW - HOUR)
    status = crl_checker(numbered_lower, numbered_higher).check(
        leaf, pki.server_ca.certificate, NOW
    )
    assert status.state is RevocationState.REVOKED


def test_newer_but_expired_crl_falls_back_to_an_older_current_one(pki: TestPki) -> None:
    leaf = issue_server(pki).certificate
    current = build_crl(pki.server_ca, number=1)
    not_yet = build_crl(pki.server_ca, number=2, this_update=NOW + HOUR, next_update=NOW + DAY)
    status = crl_checker(current, not_yet).check(leaf, pki.server_ca.certificate, NOW)
    assert status.state is RevocationState.GOOD


def test_crl_with_unknown_critical_extension_is_not_used(pki: TestPki) -> None:
    leaf = issue_server(pki).certificate
    strange = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")
    crl = build_crl(pki.server_ca, extensions=((strange, True),))
    with pytest.raises(RevocationUnknownError) as caught:
        crl_checker(crl).check(leaf, pki.server_ca.certificate, NOW)
    assert "critical extension" in caught.value.detail


def test_crl_with_unknown_noncritical_extension_is_used(pki: TestPki) -> None:
    leaf = issue_server(pki).certificate
    strange = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")
    crl = build_crl(pki.server_ca, extensions=((strange, False),))
    assert crl_checker(crl).check(leaf, pki.server_ca.certificate, NOW).good


def test_crl_with_unknown_critical_entry_extension_is_not_used(pki: TestPki) -> None:
    leaf = issue_server(pki).certificate
    strange = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.2"), b"\x05\x00")
    crl = build_crl(pki.server_ca, revoked={12345: NOW - DAY}, entry_extensions=((strange, True),))
    with pytest.raises(RevocationUnknownError) as caught:
        crl_checker(crl).check(leaf, pki.server_ca.certificate, NOW)
    assert "entry" in caught.value.detail


def test_delta_crl_is_not_used(pki: TestPki) -> None:
    leaf = issue_server(pki).certificate
    crl = build_crl(pki.server_ca, extensions=((x509.DeltaCRLIndicator(1), True),))
    with pytest.raises(RevocationUnknownError) as caught:
        crl_checker(crl).check(leaf, pki.server_ca.certificate, NOW)
    assert "delta" in caught.value.detail


def _issuing_point(**flags: object) -> x509.IssuingDistributionPoint:
    values: dict[str, object] = {
        "full_name": None,
        "relative_name": None,
        "only_contains_user_certs": False,
        "only_contains_ca_certs": False,
        "only_some_reasons": None,
        "indirect_crl": False,
        "only_contains_attribute_certs": False,
    }
    values.update(flags)
    return x509.IssuingDistributionPoint(**values)  # type: ignore[arg-type]


def test_crl_for_ca_certificates_only_does_not_cover_a_leaf(pki: TestPki) -> None:
    leaf = issue_server(pki).certificate
    point = _issuing_point(only_contains_ca_certs=True)
    crl = build_crl(pki.server_ca, extensions=((point, True),))
    with pytest.raises(RevocationUnknownError):
        crl_checker(crl).check(leaf, pki.server_ca.certificate, NOW)


def test_crl_for_the_certificates_own_distribution_point_is_used(pki: TestPki) -> None:
    leaf = issue_server(pki).certificate
    (url,) = crl_urls(leaf)
    own = _issuing_point(full_name=[x509.UniformResourceIdentifier(url)])
    elsewhere = _issuing_point(full_name=[x509.UniformResourceIdentifier("http://x.test/a.crl")])
    assert (
        crl_checker(build_crl(pki.server_ca, extensions=((own, True),)))
        .check(leaf, pki.server_ca.certificate, NOW)
        .good
    )
    with pytest.raises(RevocationUnknownError) as caught:
        crl_checker(build_crl(pki.server_ca, extensions=((elsewhere, True),))).check(
            leaf, pki.server_ca.certificate, NOW
        )
    assert "distribution point" in caught.value.detail


def test_checker_without_any_source_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="CRL source or an OCSP client"):
        RevocationChecker()


# --- CRL files ------------------------------------------------------------------------------


def test_crl_files_in_der_and_pem_and_folders_are_read(pki: TestPki, tmp_path: Path) -> None:
    der = tmp_path / "server.crl"
    der.write_bytes(build_crl(pki.server_ca).public_bytes(Encoding.DER))
    folder = tmp_path / "more"
    folder.mkdir()
    (folder / "root.pem").write_bytes(build_crl(pki.root).public_bytes(Encoding.PEM))
    (folder / "README.txt").write_text("not a CRL, and not read")
    source = CrlFileSource([der, folder])
    assert {crl.issuer for crl in source.crls} == {
        pki.server_ca.certificate.subject,
        pki.root.certificate.subject,
    }


def test_unreadable_crl_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.crl"
    bad.write_bytes(b"this is no CRL")
    for path in (bad, tmp_path / "missing.crl"):
        with pytest.raises(CrlUnreadableError) as caught:
            CrlFileSource([path])
        assert caught.value.code == "crl_unreadable"
        assert caught.value.exit_code == 2
        assert caught.value.params["path"] == str(path)


def test_reloading_a_changed_crl_file_changes_the_generation(pki: TestPki, tmp_path: Path) -> None:
    path = tmp_path / "server.crl"
    path.write_bytes(build_crl(pki.server_ca, number=1).public_bytes(Encoding.DER))
    source = CrlFileSource([path])
    first = source.generation
    source.reload()
    assert source.generation == first  # same content: nothing to re-check
    path.write_bytes(build_crl(pki.server_ca, number=2).public_bytes(Encoding.DER))
    source.reload()
    assert source.generation > first
    store = CrlStore()
    checker = RevocationChecker(crl_sources=[source, store])
    before = checker.generation
    store.add(build_crl(pki.root))
    assert checker.generation != before


# --- CRLs over http ------------------------------------------------------------------------


class QuietHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002, ARG002 - base signature
        return


class _CrlHandler(QuietHandler):
    server: _CrlServer

    def do_GET(self) -> None:
        self.server.hits[self.path] = self.server.hits.get(self.path, 0) + 1
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/pkix-crl")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _CrlServer(http.server.ThreadingHTTPServer):
    files: dict[str, bytes]
    hits: dict[str, int]


@dataclass
class CrlSite:
    server: _CrlServer
    pki: TestPki
    path: str = "/crl/server-ca.crl"

    def serve(self, crl: x509.CertificateRevocationList | bytes) -> None:
        body = crl if isinstance(crl, bytes) else crl.public_bytes(Encoding.DER)
        self.server.files[self.path] = body
        self.server.hits.clear()

    @property
    def hits(self) -> int:
        return self.server.hits.get(self.path, 0)


def _start_crl_site() -> CrlSite:
    server = _CrlServer(("127.0.0.1", 0), _CrlHandler)
    server.files = {}
    server.hits = {}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    return CrlSite(server, TestPki(now=NOW, crl_base_url=f"http://127.0.0.1:{port}/crl/"))


def _stop(server: http.server.HTTPServer) -> None:
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def crl_site() -> Iterator[CrlSite]:
    site = _start_crl_site()
    yield site
    _stop(site.server)


def test_crl_is_downloaded_once_and_then_served_from_the_cache(crl_site: CrlSite) -> None:
    leaf = issue_server(crl_site.pki).certificate
    crl_site.serve(crl_site.pki.crl(crl_site.pki.server_ca))
    clock = MovableClock(NOW)
    source = CrlUrlSource(clock=clock)
    checker = RevocationChecker(crl_sources=[source])
    assert checker.check(leaf, crl_site.pki.server_ca.certificate, NOW).good
    assert crl_site.hits == 1
    clock.moment = NOW + dt.timedelta(minutes=30)
    status = checker.check(leaf, crl_site.pki.server_ca.certificate, clock.moment)
    assert crl_site.hits == 1
    # A status from a download is not to be reused past the moment it should be fetched again.
    assert status.holds_until == NOW + HOUR


def test_stale_download_is_fetched_again_and_new_revocations_are_seen(crl_site: CrlSite) -> None:
    pki = crl_site.pki
    leaf = issue_server(pki).certificate
    crl_site.serve(build_crl(pki.server_ca, number=1, this_update=NOW - HOUR))
    clock = MovableClock(NOW)
    source = CrlUrlSource(clock=clock)
    checker = RevocationChecker(crl_sources=[source])
    assert checker.check(leaf, pki.server_ca.certificate, NOW).good
    generation = checker.generation
    crl_site.serve(
        build_crl(
            pki.server_ca,
            number=2,
            this_update=NOW + HOUR,
            revoked={leaf.serial_number: NOW + dt.timedelta(minutes=30)},
        )
    )
    clock.moment = NOW + 2 * HOUR
    status = checker.check(leaf, pki.server_ca.certificate, clock.moment)
    assert crl_site.hits == 1
    assert status.state is RevocationState.REVOKED
    assert checker.generation != generation


def test_crl_past_its_next_update_is_fetched_again(crl_site: CrlSite) -> None:
    pki = crl_site.pki
    leaf = issue_server(pki).certificate
    crl_site.serve(build_crl(pki.server_ca, next_update=NOW + dt.timedelta(minutes=10)))
    clock = MovableClock(NOW)
    source = CrlUrlSource(clock=clock, refresh_after=DAY)
    source.lookup(leaf, pki.server_ca.certificate)
    clock.moment = NOW + dt.timedelta(minutes=20)
    crl_site.serve(build_crl(pki.server_ca, number=2, this_update=clock.moment - HOUR))
    found = source.lookup(leaf, pki.server_ca.certificate)
    assert crl_site.hits == 1
    assert [c.next_update_utc for c in found.crls] == [NOW + DAY]


def test_server_down_falls_back_to_a_current_cached_crl_then_fails(tmp_path: Path) -> None:
    site = _start_crl_site()
    pki = site.pki
    leaf = issue_server(pki).certificate
    site.serve(build_crl(pki.server_ca, next_update=NOW + 3 * HOUR))
    clock = MovableClock(NOW)
    source = CrlUrlSource(clock=clock, cache_dir=tmp_path)
    checker = RevocationChecker(crl_sources=[source])
    assert checker.check(leaf, pki.server_ca.certificate, NOW).good
    _stop(site.server)
    clock.moment = NOW + 2 * HOUR  # due for a refresh, which fails: the cached CRL still holds
    assert checker.check(leaf, pki.server_ca.certificate, clock.moment).good
    # After a restart, the disk cache serves while the server is down.
    restarted = RevocationChecker(crl_sources=[CrlUrlSource(clock=clock, cache_dir=tmp_path)])
    assert restarted.check(leaf, pki.server_ca.certificate, clock.moment).good
    clock.moment = NOW + 4 * HOUR  # the cached CRL has run out as well
    with pytest.raises(RevocationUnknownError) as caught:
        checker.check(leaf, pki.server_ca.certificate, clock.moment)
    assert "download failed" in caught.value.detail


def test_oversized_crl_download_is_refused(crl_site: CrlSite) -> None:
    pki = crl_site.pki
    leaf = issue_server(pki).certificate
    crl_site.serve(b"\x30" + b"\x00" * MAX_CRL_BYTES)
    checker = RevocationChecker(crl_sources=[CrlUrlSource(clock=MovableClock(NOW))])
    with pytest.raises(RevocationUnknownError) as caught:
        checker.check(leaf, pki.server_ca.certificate, NOW)
    assert "larger than" in caught.value.detail


def test_oversized_answer_from_a_custom_fetch_is_refused_too(pki: TestPki) -> None:
    leaf = issue_server(pki).certificate
    source = CrlUrlSource(lambda _url: b"\x00" * (MAX_CRL_BYTES + 1), clock=MovableClock(NOW))
    found = source.lookup(leaf, pki.server_ca.certificate)
    assert found.crls == ()
    assert "larger than" in str(found.problems[0])


def test_forged_download_is_not_cached_and_keeps_the_good_one(
    crl_site: CrlSite, other_pki: TestPki
) -> None:
    pki = crl_site.pki
    leaf = issue_server(pki).certificate
    crl_site.serve(build_crl(pki.server_ca, next_update=NOW + DAY))
    clock = MovableClock(NOW)
    source = CrlUrlSource(clock=clock)
    source.lookup(leaf, pki.server_ca.certificate)
    crl_site.serve(build_crl(other_pki.server_ca, number=99, next_update=NOW + 300 * DAY))
    clock.moment = NOW + 2 * HOUR
    found = source.lookup(leaf, pki.server_ca.certificate)
    assert crl_site.hits == 1
    assert [_number(c) for c in found.crls] == [1]


def test_replayed_older_download_does_not_replace_a_newer_cached_crl(crl_site: CrlSite) -> None:
    pki = crl_site.pki
    leaf = issue_server(pki).certificate
    crl_site.serve(build_crl(pki.server_ca, number=5, this_update=NOW - HOUR))
    clock = MovableClock(NOW)
    source = CrlUrlSource(clock=clock)
    source.lookup(leaf, pki.server_ca.certificate)
    crl_site.serve(build_crl(pki.server_ca, number=4, this_update=NOW - 2 * HOUR))
    clock.moment = NOW + 2 * HOUR
    found = source.lookup(leaf, pki.server_ca.certificate)
    assert crl_site.hits == 1
    assert [_number(c) for c in found.crls] == [5]


def _number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def test_only_http_distribution_points_are_fetched(pki: TestPki) -> None:
    requested: list[str] = []

    def fetch(url: str) -> bytes:
        requested.append(url)
        raise OSError

    leaf = _leaf_with(
        pki.server_ca,
        x509.CRLDistributionPoints(
            [
                x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)
                for url in ("ldap://x.test/cn=crl", "file:///etc/passwd", "https://x.test/a.crl")
            ]
        ),
    )
    found = CrlUrlSource(fetch, clock=MovableClock(NOW)).lookup(leaf, pki.server_ca.certificate)
    assert requested == []
    assert found.crls == ()
    assert "no http CRL distribution point" in str(found.problems[0])


def test_default_fetch_refuses_other_schemes() -> None:
    with pytest.raises(ValueError, match="not an http URL"):
        fetch_url("file:///etc/passwd")


def test_default_fetch_does_not_follow_redirects() -> None:
    class Redirect(QuietHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:9/elsewhere.crl")
            self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(OSError, match="302"):
            fetch_url(f"http://127.0.0.1:{server.server_address[1]}/a.crl")
    finally:
        _stop(server)


# --- OCSP ----------------------------------------------------------------------------------


def _leaf_with(ca: TestCa, *extensions: x509.ExtensionType) -> x509.Certificate:
    key = new_ec_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leaf.example")]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 30 * DAY)
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(ca.key, hashes.SHA256())


def make_responder(
    ca: TestCa,
    *,
    ocsp_signing: bool = True,
    not_after: dt.datetime = NOW + 30 * DAY,
) -> tuple[x509.Certificate, PrivateKey]:
    key = new_ec_key()
    usage = ExtendedKeyUsageOID.OCSP_SIGNING if ocsp_signing else ExtendedKeyUsageOID.CLIENT_AUTH
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "TEST OCSP Responder")]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return certificate, key


@dataclass
class Answer:
    """How the loopback responder answers the next requests."""

    signer: x509.Certificate
    key: PrivateKey
    status: ocsp.OCSPCertStatus = ocsp.OCSPCertStatus.GOOD
    revocation_time: dt.datetime | None = None
    this_update: dt.datetime = NOW - dt.timedelta(minutes=1)
    next_update: dt.datetime | None = NOW + HOUR
    serial_offset: int = 0
    echo_nonce: bool = True
    nonce: bytes | None = None
    corrupt_signature: bool = False
    response_status: ocsp.OCSPResponseStatus = ocsp.OCSPResponseStatus.SUCCESSFUL
    raw: bytes | None = None
    include_signer: bool = True


class _OcspHandler(QuietHandler):
    server: _OcspServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append((self.headers["Content-Type"], body))
        answer = self.server.answer
        assert answer is not None
        data = answer.raw if answer.raw is not None else _respond(answer, body)
        self.send_response(200)
        self.send_header("Content-Type", "application/ocsp-response")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _OcspServer(http.server.ThreadingHTTPServer):
    answer: Answer | None
    requests: list[tuple[str, bytes]]


def _respond(answer: Answer, body: bytes) -> bytes:
    if answer.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        unsuccessful = ocsp.OCSPResponseBuilder.build_unsuccessful(answer.response_status)
        return unsuccessful.public_bytes(Encoding.DER)
    request = ocsp.load_der_ocsp_request(body)
    revoked = answer.status is ocsp.OCSPCertStatus.REVOKED
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=request.issuer_name_hash,
            issuer_key_hash=request.issuer_key_hash,
            serial_number=request.serial_number + answer.serial_offset,
            algorithm=request.hash_algorithm,
            cert_status=answer.status,
            this_update=answer.this_update,
            next_update=answer.next_update,
            revocation_time=answer.revocation_time if revoked else None,
            revocation_reason=x509.ReasonFlags.key_compromise if revoked else None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, answer.signer)
    )
    if answer.include_signer:
        builder = builder.certificates([answer.signer])
    nonce = answer.nonce
    if nonce is None and answer.echo_nonce:
        for extension in request.extensions:
            if isinstance(extension.value, x509.OCSPNonce):
                nonce = extension.value.nonce
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    response = builder.sign(answer.key, hashes.SHA256())
    der = response.public_bytes(Encoding.DER)
    if answer.corrupt_signature:
        signature = response.signature
        der = der.replace(signature, bytes([signature[0] ^ 0x01]) + signature[1:])
    return der


@dataclass
class Responder:
    server: _OcspServer
    url: str
    requests: list[tuple[str, bytes]] = field(default_factory=list)

    def answer(self, answer: Answer) -> None:
        self.server.answer = answer
        self.server.requests.clear()


@pytest.fixture(scope="module")
def responder() -> Iterator[Responder]:
    server = _OcspServer(("127.0.0.1", 0), _OcspHandler)
    server.answer = None
    server.requests = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Responder(server, f"http://127.0.0.1:{server.server_address[1]}/ocsp")
    _stop(server)


@pytest.fixture(scope="module")
def delegate(pki: TestPki) -> tuple[x509.Certificate, PrivateKey]:
    return make_responder(pki.server_ca)


def _ask(
    pki: TestPki, responder: Responder, leaf: x509.Certificate, *, send_nonce: bool = True
) -> RevocationStatus:
    return OcspClient(send_nonce=send_nonce).check(
        leaf, pki.server_ca.certificate, url=responder.url, at=NOW
    )


def test_ocsp_good_answer_from_a_delegated_responder(
    pki: TestPki, responder: Responder, delegate: tuple[x509.Certificate, PrivateKey]
) -> None:
    leaf = issue_server(pki).certificate
    responder.answer(Answer(*delegate))
    status = _ask(pki, responder, leaf)
    assert status.state is RevocationState.GOOD
    assert status.source == "ocsp"
    assert status.next_update == NOW + HOUR
    content_type, body = responder.server.requests[0]
    assert content_type == "application/ocsp-request"
    request = ocsp.load_der_ocsp_request(body)
    assert request.serial_number == leaf.serial_number
    assert isinstance(request.hash_algorithm, hashes.SHA1)


def test_ocsp_answer_signed_by_the_issuing_ca_itself_counts(
    pki: TestPki, responder: Responder
) -> None:
    leaf = issue_server(pki).certificate
    responder.answer(Answer(pki.server_ca.certificate, pki.server_ca.key, include_signer=False))
    assert _ask(pki, responder, leaf).good


def test_ocsp_revoked_answer_is_revoked(
    pki: TestPki, responder: Responder, delegate: tuple[x509.Certificate, PrivateKey]
) -> None:
    leaf = issue_server(pki).certificate
    responder.answer(
        Answer(*delegate, status=ocsp.OCSPCertStatus.REVOKED, revocation_time=NOW - DAY)
    )
    status = _ask(pki, responder, leaf)
    assert status.state is RevocationState.REVOKED
    assert status.revoked_at == NOW - DAY
    assert status.reason is x509.ReasonFlags.key_compromise


def test_ocsp_revocation_after_the_moment_checked_is_good(
    pki: TestPki, responder: Responder, delegate: tuple[x509.Certificate, PrivateKey]
) -> None:
    leaf = issue_server(pki).certificate
    responder.answer(
        Answer(
            *delegate,
            status=ocsp.OCSPCertStatus.REVOKED,
            revocation_time=NOW + dt.timedelta(minutes=2),
            this_update=NOW + dt.timedelta(minutes=3),
        )
    )
    status = _ask(pki, responder, leaf)
    assert status.state is RevocationState.GOOD
    assert status.revoked_at == NOW + dt.timedelta(minutes=2)


def test_ocsp_unknown_answer_is_revocation_unknown(
    pki: TestPki, responder: Responder, delegate: tuple[x509.Certificate, PrivateKey]
) -> None:
    leaf = issue_server(pki).certificate
    responder.answer(Answer(*delegate, status=ocsp.OCSPCertStatus.UNKNOWN))
    with pytest.raises(RevocationUnknownError) as caught:
        _ask(pki, responder, leaf)
    assert caught.value.code == "certificate_revocation_unknown"
    assert "does not know" in caught.value.params["reason"]  # type: ignore[operator]


def _assert_invalid(call: Callable[[], object], fragment: str) -> None:
    with pytest.raises(OcspResponseError) as caught:
        call()
    assert caught.value.code == "ocsp_response_invalid"
    assert "{" not in caught.value.public_message("en")
    assert fragment in f"{caught.value.params['reason']} {caught.value.detail}"


def test_ocsp_responder_delegated_by_another_ca_is_not_authorised(
    pki: TestPki, responder: Responder
) -> None:
    leaf = issue_server(pki).certificate
    responder.answer(Answer(*make_responder(pki.zorgverlener_ca)))
    _assert_invalid(lambda: _ask(pki, responder, leaf), "not issued by")


def test_ocsp_responder_from_a_look_alike_ca_is_not_authorised(
    pki: TestPki, other_pki: TestPki, responder: Responder
) -> None:
    leaf = issue_server(pki).certificate
    responder.answer(Answer(*make_responder(other_pki.server_ca)))
    _assert_invalid(lambda: _ask(pki, responder, leaf), "not authorised")


def test_ocsp_responder_without_ocsp_signing_usage_is_not_authorised(
    pki: TestPki, responder: Responder
) -> None:
    leaf = issue_server(pki).certificate
    responder.answer(Answer(*make_responder(pki.server_ca, ocsp_signing=False)))
    _assert_invalid(lambda: _ask(pki, responder, leaf), "OCSP signing")


def test_ocsp_responder_certificate_expired_is_not_authorised(
    pki: TestPki, responder: Responder
) -> None:
    leaf = issue_server(pki).certificate
    responder.answer(Answer(*make_responder(pki.server_ca, not_after=NOW - HOUR)))
    _assert_invalid(lambda: _ask(pki, responder, leaf), "not valid")


def test_ocsp_answer_without_the_responders_certificate_is_refused(
    pki: TestPki, responder: Responder, delegate: tuple[x509.Certificate, PrivateKey]
) -> None:
    leaf = issue_server(pki).certificate
    responder.answer(Answer(*delegate, include_signer=False))
    _assert_invalid(lambda: _ask(pki, responder, leaf), "unknown responder")


def test_ocsp_answer_with_a_bad_signature_is_refused(
    pki: TestPki, responder: Responder, delegate: tuple[x509.Certificate, PrivateKey]
) -> None:
    leaf = issue_server(pki).certificate
    responder.answer(Answer(*delegate, corrupt_signature=True))
    _assert_invalid(lambda: _ask(pki, responder, leaf), "signature")


def test_stale_ocsp_answer_is_refused(
    pki: TestPki, responder: Responder, delegate: tuple[x509.Certificate, PrivateKey]
) -> None:
    leaf = issue_server(pki).certificate
    responder.answer(Answer(*delegate, this_update=NOW - 2 * DAY, next_update=NOW - DAY))
    _assert_invalid(lambda: _ask(pki, responder, leaf), "out of date")


def test_ocsp_answer_without_next_update_is_current_only_for_a_while(
    pki: TestPki, responder: Responder, delegate: tuple[x509.Certificate, PrivateKey]
) -> None:
    leaf = issue_server(pki).certificate
    responder.answer(Answer(*delegate, this_update=NOW - 2 * HOUR, next_update=None))
    _assert_invalid(lambda: _ask(pki, responder, leaf), "out of date")
    responder.answer(
        Answer(*delegate, this_update=NOW - dt.timedelta(minutes=10), next_update=None)
    )
    assert _ask(pki, responder, leaf).next_update == NOW + dt.timedelta(minutes=50)


def test_ocsp_answer_from_the_future_is_refused(
    pki: TestPki, responder: Responder, delegate: tuple[x509.Certificate, PrivateKey]
) -> None:
    leaf = issue_server(pki).certificate
    responder.answer(Answer(*delegate, this_update=NOW + HOUR, next_update=NOW + DAY))
    _assert_invalid(lambda: _ask(pki, responder, leaf), "after the moment")


def test_ocsp_answer_about_another_certificate_is_refused(
    pki: TestPki, responder: Responder, delegate: tuple[x509.Certificate, PrivateKey]
) -> None:
    leaf = issue_server(pki).certificate
    responder.answer(Answer(*delegate, serial_offset=1))
    _assert_invalid(lambda: _ask(pki, responder, leaf), "another certificate")


def test_ocsp_answer_with_another_nonce_is_refused(
    pki: TestPki, responder: Responder, delegate: tuple[x509.Certificate, PrivateKey]
) -> None:
    leaf = issue_server(pki).certificate
    responder.answer(Answer(*delegate, nonce=secrets.token_bytes(32)))
    _assert_invalid(lambda: _ask(pki, responder, leaf), "nonce")


def test_ocsp_answer_without_the_nonce_is_refused_unless_nonces_are_off(
    pki: TestPki, responder: Responder, delegate: tuple[x509.Certificate, PrivateKey]
) -> None:
    leaf = issue_server(pki).certificate
    responder.answer(Answer(*delegate, echo_nonce=False))
    _assert_invalid(lambda: _ask(pki, responder, leaf), "echo")
    assert _ask(pki, responder, leaf, send_nonce=False).good
    request = ocsp.load_der_ocsp_request(responder.server.requests[-1][1])
    assert list(request.extensions) == []


def test_ocsp_error_status_is_revocation_unknown(pki: TestPki, responder: Responder) -> None:
    leaf = issue_server(pki).certificate
    responder.answer(
        Answer(
            pki.server_ca.certificate,
            pki.server_ca.key,
            response_status=ocsp.OCSPResponseStatus.TRY_LATER,
        )
    )
    with pytest.raises(RevocationUnknownError) as caught:
        _ask(pki, responder, leaf)
    assert type(caught.value) is RevocationUnknownError
    assert "try_later" in str(caught.value.params["reason"])


def test_garbage_instead_of_an_ocsp_response_is_refused(pki: TestPki, responder: Responder) -> None:
    leaf = issue_server(pki).certificate
    responder.answer(Answer(pki.server_ca.certificate, pki.server_ca.key, raw=b"<html>hi</html>"))
    _assert_invalid(lambda: _ask(pki, responder, leaf), "not an OCSP response")


def test_unreachable_ocsp_responder_is_revocation_unknown(pki: TestPki) -> None:
    leaf = issue_server(pki).certificate
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OcspHandler)
    url = f"http://127.0.0.1:{server.server_address[1]}/ocsp"
    server.server_close()  # nobody listens there any more
    with pytest.raises(RevocationUnknownError) as caught:
        OcspClient().check(leaf, pki.server_ca.certificate, url=url, at=NOW)
    assert type(caught.value) is RevocationUnknownError
    assert "did not answer" in caught.value.params["reason"]  # type: ignore[operator]


def test_checker_falls_back_to_a_configured_ocsp_responder(
    pki: TestPki, responder: Responder, delegate: tuple[x509.Certificate, PrivateKey]
) -> None:
    leaf = issue_server(pki).certificate
    responder.answer(Answer(*delegate))
    checker = RevocationChecker(
        crl_sources=[CrlStore()],
        ocsp=OcspClient(),
        ocsp_responders={pki.server_ca.certificate.subject: responder.url},
    )
    assert checker.check(leaf, pki.server_ca.certificate, NOW).source == "ocsp"


def test_checker_uses_the_certificates_ocsp_url_and_prefers_a_current_crl(
    pki: TestPki, responder: Responder, delegate: tuple[x509.Certificate, PrivateKey]
) -> None:
    access = x509.AuthorityInformationAccess(
        [
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(responder.url)
            )
        ]
    )
    leaf = _leaf_with(pki.server_ca, access)
    assert ocsp_url(leaf) == responder.url
    responder.answer(Answer(*delegate))
    store = CrlStore()
    checker = RevocationChecker(crl_sources=[store], ocsp=OcspClient())
    assert checker.check(leaf, pki.server_ca.certificate, NOW).source == "ocsp"
    store.add(build_crl(pki.server_ca))
    assert checker.check(leaf, pki.server_ca.certificate, NOW).source == "crl"
    assert len(responder.server.requests) == 1
