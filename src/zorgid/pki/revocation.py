"""Revocation status: CRLs (RFC 5280 sections 5 and 6.3) first, then OCSP (RFC 6960).

:class:`RevocationChecker` gathers the CRLs its sources hold for a certificate's issuer, uses the
newest one that is current and verifiably issued by that issuer, and falls back to an OCSP
responder. When neither gives current, trustworthy information it fails hard
(:class:`~zorgid.pki.errors.RevocationUnknownError`): for an identity system "could not check" must
never read as "not revoked".

Revocation is judged at a moment ``at`` by the rule AORTA uses (domain-facts.md): a certificate
revoked before (or at) ``at`` is revoked; one revoked after ``at`` was still good at that moment.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import http.client
import os
import secrets
import tempfile
import threading
import urllib.parse
import urllib.request
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from zorgid.core.clock import Clock, SystemClock
from zorgid.core.i18n import N_, Message
from zorgid.pki.errors import CrlUnreadableError, OcspResponseError, RevocationUnknownError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

__all__ = [
    "DEFAULT_CRL_REFRESH",
    "MAX_CRL_BYTES",
    "MAX_OCSP_RESPONSE_BYTES",
    "CrlCandidates",
    "CrlFileSource",
    "CrlSource",
    "CrlStore",
    "CrlUrlSource",
    "OcspClient",
    "RevocationChecker",
    "RevocationState",
    "RevocationStatus",
    "crl_urls",
    "fetch_url",
    "load_crl",
    "ocsp_url",
    "post_ocsp_request",
    "read_crl_file",
]

#: CRLs larger than this are refused (the UZI-register's are far smaller; a bigger one is abuse).
MAX_CRL_BYTES = 10 * 1024 * 1024
#: OCSP responses hold one status and a certificate or two.
MAX_OCSP_RESPONSE_BYTES = 1024 * 1024
#: Seconds before a CRL download or OCSP request is given up.
DEFAULT_TIMEOUT_SECONDS = 10.0
#: CIBG publishes a CRL every hour, valid for 48 hours: fetch again after an hour to see
#: revocations within the hour rather than only when the old CRL runs out.
DEFAULT_CRL_REFRESH = dt.timedelta(hours=1)
#: Clock difference tolerated between us and an OCSP responder.
DEFAULT_OCSP_CLOCK_SKEW = dt.timedelta(minutes=5)
#: How long an OCSP response without nextUpdate counts as current (RFC 6960 section 4.2.2.1
#: leaves it to the client).
DEFAULT_OCSP_MAX_AGE = dt.timedelta(hours=1)

#: Signature hashes accepted on CRLs and OCSP responses; SHA-1 is no longer accepted in this
#: ecosystem (domain-facts.md).
_SIGNATURE_HASHES = frozenset({"sha256", "sha384", "sha512"})
#: Hashes a responder may use in a CertID (RFC 6960 section 4.1.1). There they are only
#: identifiers, not signatures, so SHA-1 is acceptable.
_HASHES: Mapping[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
#: RFC 8954 section 2.1: a nonce of 32 octets.
_NONCE_BYTES = 32
#: CRL extensions this module understands (RFC 5280 section 5.2); IssuingDistributionPoint is
#: processed per certificate, DeltaCRLIndicator is refused (delta CRLs are not supported).
_KNOWN_CRL_EXTENSIONS: tuple[type[x509.ExtensionType], ...] = (
    x509.CRLNumber,
    x509.AuthorityKeyIdentifier,
    x509.IssuerAlternativeName,
    x509.IssuingDistributionPoint,
    x509.FreshestCRL,
    x509.AuthorityInformationAccess,
)
#: CRL entry extensions understood (RFC 5280 section 5.3); CertificateIssuer only occurs on
#: indirect CRLs, which are not supported.
_KNOWN_ENTRY_EXTENSIONS: tuple[type[x509.ExtensionType], ...] = (
    x509.CRLReason,
    x509.InvalidityDate,
)
_ONE_TICK = dt.timedelta(microseconds=1)
_VERDICT_CACHE_SIZE = 256


class RevocationState(enum.StrEnum):
    """Whether a certificate was revoked at the moment asked about."""

    GOOD = "good"
    REVOKED = "revoked"


@dataclass(frozen=True)
class RevocationStatus:
    """The revocation status of one certificate at one moment, and how long it holds.

    A GOOD status may carry a ``revoked_at`` after the moment checked: the certificate was revoked
    later, which does not count against a use before that (the AORTA rule).
    """

    state: RevocationState
    source: Literal["crl", "ocsp"]
    this_update: dt.datetime
    next_update: dt.datetime
    revoked_at: dt.datetime | None = None
    reason: x509.ReasonFlags | None = None
    #: When the source wants to be asked again, earlier than next_update (a CRL download's
    #: refresh interval); None when only next_update counts.
    refresh_at: dt.datetime | None = None

    @property
    def good(self) -> bool:
        """True when the certificate was not revoked at the moment checked."""
        return self.state is RevocationState.GOOD

    @property
    def holds_until(self) -> dt.datetime:
        """The last moment at which this status may be reused without asking again."""
        until = self.next_update
        if self.refresh_at is not None:
            until = min(until, self.refresh_at)
        if self.good and self.revoked_at is not None:
            until = min(until, self.revoked_at - _ONE_TICK)
        return until


# --- CRL sources ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CrlCandidates:
    """CRLs a source offers for a certificate, and why it could not offer others."""

    crls: tuple[x509.CertificateRevocationList, ...] = ()
    #: Why CRLs are missing, for the person (``str()`` gives the English text for logs).
    problems: tuple[Message, ...] = ()
    #: The earliest moment the source wants to be asked again (see RevocationStatus.refresh_at).
    refresh_at: dt.datetime | None = None


class CrlSource(Protocol):
    """Where CRLs come from: files, memory, or the certificate's distribution points."""

    @property
    def generation(self) -> int:
        """A number that grows whenever the set of CRLs this source holds changes."""
        ...

    def lookup(self, certificate: x509.Certificate, issuer: x509.Certificate) -> CrlCandidates:
        """The CRLs that may cover ``certificate`` (issued by ``issuer``), unverified."""
        ...


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    """Parse a CRL in PEM or DER; raises ValueError when it is neither."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)


def read_crl_file(path: Path) -> x509.CertificateRevocationList:
    """Read a CRL file (PEM or DER); raises CrlUnreadableError."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CrlUnreadableError(f"{path}: {exc}", path=str(path)) from exc
    if len(data) > MAX_CRL_BYTES:
        raise CrlUnreadableError(f"{path}: larger than {MAX_CRL_BYTES} bytes", path=str(path))
    try:
        return load_crl(data)
    except ValueError as exc:
        raise CrlUnreadableError(f"{path}: {exc}", path=str(path)) from exc


def readable_moment(value: dt.datetime) -> str:
    """A moment as people read it in messages."""
    return f"{value.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"


def _fingerprint(crl: x509.CertificateRevocationList) -> bytes:
    return crl.fingerprint(hashes.SHA256())


class CrlStore:
    """CRLs held in memory, replaceable while in use (thread-safe)."""

    def __init__(self, crls: Iterable[x509.CertificateRevocationList] = ()) -> None:
        self._lock = threading.Lock()
        self._crls: tuple[x509.CertificateRevocationList, ...] = ()
        self._fingerprints: frozenset[bytes] = frozenset()
        self._generation = 0
        self.replace(crls)

    @property
    def generation(self) -> int:
        """A number that grows whenever the set of CRLs changes."""
        with self._lock:
            return self._generation

    @property
    def crls(self) -> tuple[x509.CertificateRevocationList, ...]:
        """The CRLs held now."""
        with self._lock:
            return self._crls

    def replace(self, crls: Iterable[x509.CertificateRevocationList]) -> None:
        """Hold exactly ``crls`` from now on."""
        new = tuple(crls)
        with self._lock:
            self._hold(new)

    def add(self, *crls: x509.CertificateRevocationList) -> None:
        """Hold ``crls`` besides the ones held already."""
        with self._lock:
            self._hold((*self._crls, *crls))

    def _hold(self, crls: tuple[x509.CertificateRevocationList, ...]) -> None:
        # Called with the lock held.
        fingerprints = frozenset(_fingerprint(crl) for crl in crls)
        if fingerprints != self._fingerprints:
            self._generation += 1
        self._crls = crls
        self._fingerprints = fingerprints

    def lookup(
        self,
        certificate: x509.Certificate,
        issuer: x509.Certificate,  # noqa: ARG002 - part of the CrlSource protocol
    ) -> CrlCandidates:
        """The held CRLs whose issuer name is the certificate's issuer."""
        return CrlCandidates(tuple(crl for crl in self.crls if crl.issuer == certificate.issuer))


class CrlFileSource(CrlStore):
    """CRLs read from files (PEM or DER) or from every ``*.crl``/``*.pem``/``*.der`` in folders."""

    _SUFFIXES = frozenset({".crl", ".pem", ".der"})

    def __init__(self, paths: Iterable[Path]) -> None:
        self._paths = tuple(paths)
        super().__init__(self._read())

    def reload(self) -> None:
        """Read the files again (after a new CRL was put in place); raises CrlUnreadableError."""
        self.replace(self._read())

    def _read(self) -> list[x509.CertificateRevocationList]:
        files: list[Path] = []
        for path in self._paths:
            if path.is_dir():
                files.extend(
                    sorted(p for p in path.iterdir() if p.suffix.lower() in self._SUFFIXES)
                )
            else:
                files.append(path)
        return [read_crl_file(file) for file in files]


def crl_urls(certificate: x509.Certificate) -> tuple[str, ...]:
    """The http URLs of the certificate's CRL distribution points that cover all reasons."""
    try:
        points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return ()
    except ValueError:
        # A malformed extension names no place we may fetch from.
        return ()
    urls: list[str] = []
    for point in points:
        # RFC 5280 section 4.2.1.13: a point with reasons covers only those; one with cRLIssuer
        # is an indirect CRL. Neither alone answers "is this certificate revoked".
        if point.full_name is None or point.reasons is not None or point.crl_issuer is not None:
            continue
        urls.extend(
            name.value
            for name in point.full_name
            if isinstance(name, x509.UniformResourceIdentifier) and _is_http(name.value)
        )
    return tuple(urls)


def _is_http(url: str) -> bool:
    # http only: CRLs and OCSP responses are signed, and fetching them over https would need a
    # certificate validation of its own (RFC 5280 section 4.2.1.13, RFC 6960 appendix A.1).
    parts = urllib.parse.urlsplit(url)
    return parts.scheme == "http" and bool(parts.hostname)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: a distribution point or responder URL is used as the CA wrote it."""

    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None


class _TooLargeError(ValueError):
    """An answer larger than the size cap."""


def _open(request: urllib.request.Request, *, timeout: float, max_bytes: int) -> bytes:
    if not _is_http(request.full_url):
        msg = f"not an http URL: {request.full_url}"
        raise ValueError(msg)
    opener = urllib.request.build_opener(_NoRedirect)
    with opener.open(request, timeout=timeout) as response:
        data: bytes = response.read(max_bytes + 1)
    if len(data) > max_bytes:
        msg = f"answer larger than {max_bytes} bytes"
        raise _TooLargeError(msg)
    return data


def fetch_url(
    url: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS, max_bytes: int = MAX_CRL_BYTES
) -> bytes:
    """GET a CRL over http with a timeout and a size cap; raises OSError or ValueError."""
    request = urllib.request.Request(url)  # noqa: S310 - _open refuses all but http URLs
    return _open(request, timeout=timeout, max_bytes=max_bytes)


def post_ocsp_request(
    url: str,
    body: bytes,
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    max_bytes: int = MAX_OCSP_RESPONSE_BYTES,
) -> bytes:
    """POST an OCSP request over http (RFC 6960 appendix A.1); raises OSError or ValueError."""
    request = urllib.request.Request(  # noqa: S310 - _open refuses all but http URLs
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/ocsp-request",
            "Accept": "application/ocsp-response",
        },
    )
    return _open(request, timeout=timeout, max_bytes=max_bytes)


class _CrlFetchError(Exception):
    """A CRL could not be downloaded or is not fit to cache."""

    def __init__(self, problem: Message) -> None:
        super().__init__(str(problem))
        self.problem = problem


_TOO_LARGE = N_("the CRL is larger than {limit} bytes and was refused")


@dataclass(frozen=True)
class _CachedCrl:
    crl: x509.CertificateRevocationList
    fingerprint: bytes
    #: None when read from the disk cache and not yet fetched again by this process.
    fetched_at: dt.datetime | None


class CrlUrlSource:
    """CRLs downloaded from the certificate's distribution points, cached in memory and on disk.

    A CRL is fetched again after ``refresh_after`` or once past its nextUpdate; when that fails,
    the cached one is used for as long as it is current. Only CRLs verifiably issued by the
    certificate's issuer are cached, and a download never replaces a newer cached CRL (a replayed
    old CRL cannot hide a revocation).
    """

    def __init__(
        self,
        fetch: Callable[[str], bytes] = fetch_url,
        *,
        cache_dir: Path | None = None,
        clock: Clock | None = None,
        refresh_after: dt.timedelta = DEFAULT_CRL_REFRESH,
        max_entries: int = 256,
    ) -> None:
        self._fetch = fetch
        self._cache_dir = cache_dir
        self._clock = clock or SystemClock()
        self._refresh_after = refresh_after
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._memory: OrderedDict[str, _CachedCrl] = OrderedDict()
        self._generation = 0

    @property
    def generation(self) -> int:
        """A number that grows whenever a different CRL enters the cache."""
        with self._lock:
            return self._generation

    def lookup(self, certificate: x509.Certificate, issuer: x509.Certificate) -> CrlCandidates:
        """The CRLs at the certificate's http distribution points, from cache or downloaded."""
        urls = crl_urls(certificate)
        if not urls:
            return CrlCandidates(
                problems=(Message(N_("the certificate names no http CRL distribution point")),)
            )
        crls: list[x509.CertificateRevocationList] = []
        problems: list[Message] = []
        refresh_at: dt.datetime | None = None
        for url in urls:
            try:
                cached = self._get(url, issuer)
            except _CrlFetchError as exc:
                problems.append(
                    Message(N_("CRL at {url}: {problem}"), {"url": url, "problem": exc.problem})
                )
                continue
            crls.append(cached.crl)
            if cached.fetched_at is not None:
                due = cached.fetched_at + self._refresh_after
                refresh_at = due if refresh_at is None else min(refresh_at, due)
        return CrlCandidates(tuple(crls), tuple(problems), refresh_at)

    def _get(self, url: str, issuer: x509.Certificate) -> _CachedCrl:
        now = self._clock.now()
        cached = self._cached(url)
        if cached is not None and self._fresh(cached, now):
            return cached
        try:
            crl = self._download(url, issuer)
        except _CrlFetchError:
            if cached is not None and _current(cached.crl, now):
                return cached
            raise
        return self._remember(url, crl, now)

    def _fresh(self, cached: _CachedCrl, now: dt.datetime) -> bool:
        return (
            cached.fetched_at is not None
            and now - cached.fetched_at < self._refresh_after
            and _current(cached.crl, now)
        )

    def _download(self, url: str, issuer: x509.Certificate) -> x509.CertificateRevocationList:
        try:
            data = self._fetch(url)
        except _TooLargeError as exc:
            raise _CrlFetchError(Message(_TOO_LARGE, {"limit": MAX_CRL_BYTES})) from exc
        except (OSError, ValueError, http.client.HTTPException) as exc:
            # The exception's text (often the operating system's) is data: English only.
            raise _CrlFetchError(
                Message(N_("download failed: {error}"), {"error": str(exc)})
            ) from exc
        if len(data) > MAX_CRL_BYTES:
            raise _CrlFetchError(Message(_TOO_LARGE, {"limit": MAX_CRL_BYTES}))
        try:
            crl = load_crl(data)
        except ValueError as exc:
            raise _CrlFetchError(
                Message(N_("the download is not a CRL ({error})"), {"error": str(exc)})
            ) from exc
        # Check the signature before caching: a forged CRL with a far nextUpdate must not
        # displace the real one (RFC 5280 section 6.3.3 (f), (g)).
        if crl.issuer != issuer.subject or not _crl_signature_valid(crl, issuer):
            raise _CrlFetchError(Message(N_("the CRL was not signed by the certificate's issuer")))
        return crl

    def _cached(self, url: str) -> _CachedCrl | None:
        with self._lock:
            cached = self._memory.get(url)
            if cached is not None:
                self._memory.move_to_end(url)
                return cached
        crl = self._read_disk(url)
        if crl is None:
            return None
        entry = _CachedCrl(crl, _fingerprint(crl), fetched_at=None)
        self._store(url, entry)
        return entry

    def _remember(
        self, url: str, crl: x509.CertificateRevocationList, now: dt.datetime
    ) -> _CachedCrl:
        with self._lock:
            old = self._memory.get(url)
        if old is not None and _crl_order(old.crl) > _crl_order(crl):
            entry = dataclasses.replace(old, fetched_at=now)
        else:
            entry = _CachedCrl(crl, _fingerprint(crl), fetched_at=now)
            self._write_disk(url, crl)
        self._store(url, entry)
        return entry

    def _store(self, url: str, entry: _CachedCrl) -> None:
        with self._lock:
            old = self._memory.get(url)
            if old is None or old.fingerprint != entry.fingerprint:
                self._generation += 1
            self._memory[url] = entry
            self._memory.move_to_end(url)
            while len(self._memory) > self._max_entries:
                self._memory.popitem(last=False)

    def _disk_path(self, url: str) -> Path | None:
        if self._cache_dir is None:
            return None
        return self._cache_dir / f"{hashlib.sha256(url.encode()).hexdigest()}.crl"

    def _read_disk(self, url: str) -> x509.CertificateRevocationList | None:
        path = self._disk_path(url)
        if path is None:
            return None
        try:
            return read_crl_file(path)
        except CrlUnreadableError:
            # A missing or damaged cache file only means there is nothing cached.
            return None

    def _write_disk(self, url: str, crl: x509.CertificateRevocationList) -> None:
        path = self._disk_path(url)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write beside and rename: a reader never sees half a CRL.
            fd, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(crl.public_bytes(Encoding.DER))
            Path(temporary).replace(path)
        except OSError:
            # The disk cache only helps after a restart; the CRL in memory still counts.
            return


# --- judging a CRL -------------------------------------------------------------------------


def _current(crl: x509.CertificateRevocationList, at: dt.datetime) -> bool:
    next_update = crl.next_update_utc
    return next_update is not None and crl.last_update_utc <= at <= next_update


def _crl_number(crl: x509.CertificateRevocationList) -> int:
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except (x509.ExtensionNotFound, ValueError):
        return -1


def _crl_order(crl: x509.CertificateRevocationList) -> tuple[int, dt.datetime]:
    # RFC 5280 section 5.2.3: CRL numbers increase; lastUpdate breaks ties and numberless CRLs.
    return (_crl_number(crl), crl.last_update_utc)


def _hash_name(read: Callable[[], hashes.HashAlgorithm | None]) -> str | None:
    try:
        algorithm = read()
    except UnsupportedAlgorithm:
        return None
    return None if algorithm is None else algorithm.name


def _crl_signature_valid(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    if _hash_name(lambda: crl.signature_hash_algorithm) not in _SIGNATURE_HASHES:
        return False
    try:
        key = issuer.public_key()
        if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            return False
        return crl.is_signature_valid(key)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False


def _may_sign_crls(issuer: x509.Certificate) -> bool:
    # RFC 5280 section 6.3.3 (f): the CRL signer's key usage, when present, must allow cRLSign.
    try:
        usage = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    except ValueError:
        return False
    return usage.crl_sign


def _crl_problem(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> Message | None:
    """Why the CRL cannot be used for any certificate of ``issuer``, or None."""
    if crl.issuer != issuer.subject:
        return Message(N_("the CRL was issued by another CA"))
    if not _may_sign_crls(issuer):
        return Message(N_("the issuing CA may not sign CRLs"))
    if not _crl_signature_valid(crl, issuer):
        return Message(N_("the CRL's signature does not verify with the issuing CA's key"))
    return _crl_extensions_problem(crl)


def _crl_extensions_problem(crl: x509.CertificateRevocationList) -> Message | None:
    try:
        extensions = list(crl.extensions)
        if any(isinstance(e.value, x509.DeltaCRLIndicator) for e in extensions):
            return Message(N_("the CRL is a delta CRL, which is not supported"))
        # RFC 5280 section 5.2: a critical extension not understood makes the CRL unusable.
        if any(e.critical and not isinstance(e.value, _KNOWN_CRL_EXTENSIONS) for e in extensions):
            return Message(N_("the CRL has a critical extension that is not understood"))
        # RFC 5280 section 5.3: likewise a critical entry extension, for the whole CRL.
        for entry in crl:
            if any(
                e.critical and not isinstance(e.value, _KNOWN_ENTRY_EXTENSIONS)
                for e in entry.extensions
            ):
                return Message(N_("a CRL entry has a critical extension that is not understood"))
    except ValueError as exc:
        return Message(N_("the CRL's extensions are malformed ({error})"), {"error": str(exc)})
    return None


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except (x509.ExtensionNotFound, ValueError):
        return False


def _scope_problem(
    crl: x509.CertificateRevocationList, certificate: x509.Certificate
) -> Message | None:
    """Why the CRL's scope (RFC 5280 sections 5.2.5 and 6.3.3 (b)) leaves the certificate out."""
    try:
        point = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
    except x509.ExtensionNotFound:
        return None
    if point.indirect_crl or point.only_some_reasons is not None or point.relative_name:
        return Message(
            N_("the CRL is partial (indirect, for some reasons only, or with a relative name)")
        )
    if point.only_contains_attribute_certs:
        return Message(N_("the CRL covers attribute certificates only"))
    is_ca = _is_ca(certificate)
    if (point.only_contains_user_certs and is_ca) or (point.only_contains_ca_certs and not is_ca):
        return Message(N_("the CRL covers only CA or only end-entity certificates, not this kind"))
    if point.full_name is not None and not _names_point(certificate, point.full_name):
        return Message(N_("the CRL is for a distribution point the certificate does not name"))
    return None


def _names_point(certificate: x509.Certificate, names: Iterable[x509.GeneralName]) -> bool:
    # RFC 5280 section 6.3.3 (b)(2)(i): one of the CRL's distribution point names must be one
    # of the certificate's.
    try:
        points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints)
    except (x509.ExtensionNotFound, ValueError):
        return False
    wanted = set(names)
    return any(wanted.intersection(point.full_name or ()) for point in points.value)


def _status_from_crl(
    crl: x509.CertificateRevocationList,
    certificate: x509.Certificate,
    at: dt.datetime,
    refresh_at: dt.datetime | None,
) -> RevocationStatus:
    next_update = crl.next_update_utc
    if next_update is None:  # excluded by _current; kept for the type checker
        msg = "CRL without nextUpdate"
        raise ValueError(msg)
    entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
    if entry is None:
        return RevocationStatus(
            RevocationState.GOOD, "crl", crl.last_update_utc, next_update, refresh_at=refresh_at
        )
    revoked_at = entry.revocation_date_utc
    reason: x509.ReasonFlags | None = None
    for extension in entry.extensions:
        if isinstance(extension.value, x509.CRLReason):
            reason = extension.value.reason
        elif isinstance(extension.value, x509.InvalidityDate):
            # RFC 5280 section 5.3.2: the key may have been compromised before the CA revoked
            # the certificate; a signature made in between is not to be trusted either.
            revoked_at = min(revoked_at, extension.value.invalidity_date_utc)
    state = RevocationState.REVOKED if revoked_at <= at else RevocationState.GOOD
    return RevocationStatus(
        state,
        "crl",
        crl.last_update_utc,
        next_update,
        revoked_at=revoked_at,
        reason=reason,
        refresh_at=refresh_at,
    )


# --- OCSP (RFC 6960) -----------------------------------------------------------------------


def ocsp_url(certificate: x509.Certificate) -> str | None:
    """The first http OCSP responder URL in the certificate's authorityInfoAccess, if any."""
    try:
        access = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    except (x509.ExtensionNotFound, ValueError):
        return None
    for description in access.value:
        location = description.access_location
        if (
            description.access_method == AuthorityInformationAccessOID.OCSP
            and isinstance(location, x509.UniformResourceIdentifier)
            and _is_http(location.value)
        ):
            return location.value
    return None


def _key_hash(certificate: x509.Certificate) -> bytes | None:
    # RFC 6960 section 4.2.1, ResponderID byKey: SHA-1 of the subjectPublicKey BIT STRING, which
    # is what RFC 5280 section 4.2.1.2 method (1) computes.
    try:
        return x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None


def _is_responder(certificate: x509.Certificate, response: ocsp.OCSPResponse) -> bool:
    if response.responder_name is not None:
        return certificate.subject == response.responder_name
    return response.responder_key_hash is not None and (
        _key_hash(certificate) == response.responder_key_hash
    )


def _delegation_problem(
    responder: x509.Certificate, issuer: x509.Certificate, at: dt.datetime
) -> Message | None:
    """Why ``responder`` may not answer for ``issuer``'s certificates (RFC 6960 section 4.2.2.2)."""
    try:
        responder.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return Message(N_("the responder certificate was not issued by the certificate's CA"))
    not_authorised = Message(N_("the responder certificate is not authorised for OCSP signing"))
    try:
        usages = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (x509.ExtensionNotFound, ValueError):
        return not_authorised
    if ExtendedKeyUsageOID.OCSP_SIGNING not in usages:
        return not_authorised
    if not responder.not_valid_before_utc <= at <= responder.not_valid_after_utc:
        return Message(N_("the responder certificate is not valid at the moment checked"))
    return _responder_key_usage_problem(responder)


def _responder_key_usage_problem(responder: x509.Certificate) -> Message | None:
    try:
        key_usage = responder.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    except ValueError:
        return Message(N_("the responder certificate's key usage is malformed"))
    if not key_usage.digital_signature:
        return Message(N_("the responder certificate's key may not sign"))
    # The responder's own revocation is not checked: CAs mark delegated responder certificates
    # id-pkix-ocsp-nocheck and keep them short-lived (RFC 6960 section 4.2.2.2.1).
    return None


def _signature_valid(
    key: CertificatePublicKeyTypes, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm
) -> bool:
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(algorithm))
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _invalid(reason: Message | str, detail: str = "") -> OcspResponseError:
    """The error for an OCSP answer that fails a check; ``reason`` is a Message or N_ msgid."""
    return OcspResponseError(detail or str(reason), reason=reason)


class OcspClient:
    """An RFC 6960 client: one request per certificate, every answer verified before it counts.

    ``send_nonce`` puts a nonce in each request (RFC 6960 section 4.4.1) and then requires the
    responder to echo it; turn it off for responders that serve pre-produced answers.
    """

    def __init__(
        self,
        post: Callable[[str, bytes], bytes] = post_ocsp_request,
        *,
        send_nonce: bool = True,
        clock_skew: dt.timedelta = DEFAULT_OCSP_CLOCK_SKEW,
        max_age: dt.timedelta = DEFAULT_OCSP_MAX_AGE,
    ) -> None:
        self._post = post
        self._send_nonce = send_nonce
        self._clock_skew = clock_skew
        self._max_age = max_age

    def check(
        self,
        certificate: x509.Certificate,
        issuer: x509.Certificate,
        *,
        url: str,
        at: dt.datetime,
    ) -> RevocationStatus:
        """Ask the responder at ``url``; raises RevocationUnknownError or OcspResponseError."""
        nonce = secrets.token_bytes(_NONCE_BYTES) if self._send_nonce else None
        # The CertID uses SHA-1 (RFC 6960 section 4.1.1; RFC 5019 section 2.1.1 makes it the one
        # every responder understands). It only names the certificate; the answer's signature
        # is what is trusted, and that must use SHA-256 or better.
        builder = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA1())  # noqa: S303 - an identifier, see above
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        body = builder.build().public_bytes(Encoding.DER)
        try:
            raw = self._post(url, body)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            raise RevocationUnknownError(
                f"OCSP {url}: {exc}", reason=N_("the OCSP responder did not answer")
            ) from exc
        response = self._parse(raw)
        if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
            # RFC 6960 section 2.3: error answers are unsigned and say nothing about the
            # certificate.
            status = response.response_status.name.lower()
            raise RevocationUnknownError(
                f"OCSP {url}: {status}",
                reason=Message(N_("the OCSP responder answered {status}"), {"status": status}),
            )
        key = self._responder_key(response, issuer, at)
        algorithm = _hash_name(lambda: response.signature_hash_algorithm)
        signature_hash = _HASHES.get(algorithm or "")
        if algorithm not in _SIGNATURE_HASHES or signature_hash is None:
            raise _invalid(N_("the response is signed with a weak or unknown algorithm"))
        if not _signature_valid(
            key, response.signature, response.tbs_response_bytes, signature_hash()
        ):
            raise _invalid(N_("the response's signature does not verify"))
        self._check_extensions(response, nonce)
        single = _matching_single(response, certificate, issuer)
        return self._status(single, at)

    @staticmethod
    def _parse(raw: bytes) -> ocsp.OCSPResponse:
        if len(raw) > MAX_OCSP_RESPONSE_BYTES:
            raise _invalid(N_("the response is too large"))
        try:
            return ocsp.load_der_ocsp_response(raw)
        except ValueError as exc:
            raise _invalid(N_("the answer is not an OCSP response"), str(exc)) from exc

    @staticmethod
    def _responder_key(
        response: ocsp.OCSPResponse, issuer: x509.Certificate, at: dt.datetime
    ) -> CertificatePublicKeyTypes:
        # RFC 6960 section 4.2.2.2: the CA itself, or a responder the CA delegated to.
        if _is_responder(issuer, response):
            return issuer.public_key()
        problem = Message(N_("the response is signed by an unknown responder"))
        try:
            candidates = response.certificates
        except ValueError as exc:
            raise _invalid(N_("the response's certificates are malformed"), str(exc)) from exc
        for candidate in candidates:
            if not _is_responder(candidate, response):
                continue
            found = _delegation_problem(candidate, issuer, at)
            if found is None:
                return candidate.public_key()
            problem = found
        raise _invalid(
            Message(
                N_("the responder is not authorised by the certificate's CA: {problem}"),
                {"problem": problem},
            )
        )

    @staticmethod
    def _check_extensions(response: ocsp.OCSPResponse, nonce: bytes | None) -> None:
        try:
            extensions = list(response.extensions)
        except ValueError as exc:
            raise _invalid(N_("the response's extensions are malformed"), str(exc)) from exc
        echoed: bytes | None = None
        for extension in extensions:
            if isinstance(extension.value, x509.OCSPNonce):
                echoed = extension.value.nonce
            elif extension.critical:
                raise _invalid(N_("the response has a critical extension that is not understood"))
        if nonce is None:
            return
        # RFC 6960 section 4.4.1: the responder echoes the request's nonce; an answer without it,
        # or with another, may be a replay.
        if echoed is None:
            raise _invalid(N_("the responder did not echo the request's nonce"))
        if not secrets.compare_digest(echoed, nonce):
            raise _invalid(N_("the response's nonce is not the request's"))

    def _status(self, single: ocsp.OCSPSingleResponse, at: dt.datetime) -> RevocationStatus:
        # RFC 6960 sections 3.2 (5), (6) and 4.2.2.1: thisUpdate not in the future, nextUpdate
        # not in the past.
        this_update = single.this_update_utc
        if this_update > at + self._clock_skew:
            raise _invalid(N_("the response is dated after the moment checked"))
        next_update = single.next_update_utc
        if next_update is None:
            if at - this_update > self._max_age:
                raise _invalid(N_("the response is out of date"))
            next_update = this_update + self._max_age
        elif next_update < at:
            raise _invalid(N_("the response is out of date"))
        status = single.certificate_status
        if status is ocsp.OCSPCertStatus.UNKNOWN:
            raise RevocationUnknownError(
                "OCSP: unknown", reason=N_("the OCSP responder does not know the certificate")
            )
        if status is ocsp.OCSPCertStatus.GOOD:
            return RevocationStatus(RevocationState.GOOD, "ocsp", this_update, next_update)
        revoked_at = single.revocation_time_utc
        if revoked_at is None:
            raise _invalid(N_("the response says revoked without saying when"))
        state = RevocationState.REVOKED if revoked_at <= at else RevocationState.GOOD
        return RevocationStatus(
            state,
            "ocsp",
            this_update,
            next_update,
            revoked_at=revoked_at,
            reason=single.revocation_reason,
        )


def _matching_single(
    response: ocsp.OCSPResponse, certificate: x509.Certificate, issuer: x509.Certificate
) -> ocsp.OCSPSingleResponse:
    # RFC 6960 section 3.2 (1): the CertID in the answer must be the one asked about. Compare in
    # whichever hash the responder chose, recomputed from the certificates themselves.
    try:
        singles = list(response.responses)
    except ValueError as exc:
        raise _invalid(N_("the response's statuses are malformed"), str(exc)) from exc
    for single in singles:
        try:
            algorithm = _HASHES.get(single.hash_algorithm.name)
        except UnsupportedAlgorithm:
            continue
        if algorithm is None or single.serial_number != certificate.serial_number:
            continue
        expected = (
            ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, algorithm()).build()
        )
        if (
            single.issuer_name_hash == expected.issuer_name_hash
            and single.issuer_key_hash == expected.issuer_key_hash
        ):
            return single
    raise _invalid(N_("the response is about another certificate"))


# --- the checker ---------------------------------------------------------------------------


class RevocationChecker:
    """CRLs first, then OCSP; no current answer is an error (hard fail). Thread-safe."""

    def __init__(
        self,
        *,
        crl_sources: Sequence[CrlSource] = (),
        ocsp: OcspClient | None = None,
        ocsp_responders: Mapping[x509.Name, str] | None = None,
    ) -> None:
        if not crl_sources and ocsp is None:
            msg = "a RevocationChecker needs a CRL source or an OCSP client"
            raise ValueError(msg)
        self._crl_sources = tuple(crl_sources)
        self._ocsp = ocsp
        self._responders = dict(ocsp_responders or {})
        self._lock = threading.Lock()
        self._verdicts: OrderedDict[tuple[bytes, x509.Certificate], Message | None] = OrderedDict()

    @property
    def generation(self) -> int:
        """A number that changes whenever the CRLs of any source change."""
        # Each source's generation only grows, so their sum changes whenever one does.
        return sum(source.generation for source in self._crl_sources)

    def check(
        self, certificate: x509.Certificate, issuer: x509.Certificate, at: dt.datetime
    ) -> RevocationStatus:
        """The status of ``certificate`` at ``at``; raises RevocationUnknownError."""
        problems: list[Message] = []
        usable: list[tuple[x509.CertificateRevocationList, dt.datetime | None]] = []
        for source in self._crl_sources:
            found = source.lookup(certificate, issuer)
            problems.extend(found.problems)
            for crl in found.crls:
                problem = self._problem(crl, certificate, issuer, at)
                if problem is None:
                    usable.append((crl, found.refresh_at))
                else:
                    problems.append(
                        Message(
                            N_("the CRL issued {issued}: {problem}"),
                            {"issued": readable_moment(crl.last_update_utc), "problem": problem},
                        )
                    )
        if usable:
            crl, refresh_at = max(usable, key=lambda item: _crl_order(item[0]))
            return _status_from_crl(crl, certificate, at, refresh_at)
        url = self._responders.get(certificate.issuer) or ocsp_url(certificate)
        if self._ocsp is not None and url is not None:
            return self._ocsp.check(certificate, issuer, url=url, at=at)
        if not problems:
            problems.append(Message(N_("no CRL of the issuing CA is configured")))
        raise RevocationUnknownError(
            "; ".join(str(problem) for problem in problems),
            reason=Message(
                N_("there is no current CRL of the issuing CA and no OCSP responder ({problems})"),
                {"problems": tuple(problems)},
            ),
        )

    def _problem(
        self,
        crl: x509.CertificateRevocationList,
        certificate: x509.Certificate,
        issuer: x509.Certificate,
        at: dt.datetime,
    ) -> Message | None:
        next_update = crl.next_update_utc
        if next_update is None:
            return Message(N_("the CRL has no nextUpdate"))
        if at < crl.last_update_utc:
            return Message(N_("the CRL was issued after the moment checked"))
        if at > next_update:
            return Message(
                N_("the CRL expired on {next_update}, before the moment checked"),
                {"next_update": readable_moment(next_update)},
            )
        return self._verdict(crl, issuer) or _scope_problem(crl, certificate)

    def _verdict(
        self, crl: x509.CertificateRevocationList, issuer: x509.Certificate
    ) -> Message | None:
        # Checking a signature and every entry of a large CRL is costly: remember the verdict
        # per (CRL, issuer) pair: the CRL named by its SHA-256 fingerprint, the issuer by itself
        # (certificates compare and hash by their DER encoding).
        key = (_fingerprint(crl), issuer)
        with self._lock:
            if key in self._verdicts:
                self._verdicts.move_to_end(key)
                return self._verdicts[key]
        verdict = _crl_problem(crl, issuer)
        with self._lock:
            self._verdicts[key] = verdict
            while len(self._verdicts) > _VERDICT_CACHE_SIZE:
                self._verdicts.popitem(last=False)
        return verdict
