"""The composition root: long-lived adapters built once from :class:`Settings`.

The web app factory, the CLI and the tests all start here; nothing is built at import time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import secrets
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from zorgid.applications.service import ApplicationService
from zorgid.audit.checkpoints import Checkpoint, CheckpointSigner, publish
from zorgid.audit.log import AuditLog, ChainKey
from zorgid.core.clock import Clock, SystemClock
from zorgid.core.files import write_atomically
from zorgid.core.i18n import N_
from zorgid.db.engine import make_engine, make_read_session_factory, make_session_factory
from zorgid.db.raw import RawDatabase, open_raw, plain_dsn
from zorgid.errors import ZorgidError
from zorgid.identity.service import IdentityService
from zorgid.login.events import LocalEvents, LoginEvents, PostgresEvents
from zorgid.login.service import LoginService, purge_logins
from zorgid.mail.inbound import token_from_address
from zorgid.mail.models import MAIL_QUEUED
from zorgid.mail.outbox import Outbox, OutboxWorker
from zorgid.mail.quota import MailQuota
from zorgid.mail.receiver import InboundServer
from zorgid.mail.sender import SmtpSender
from zorgid.pki.errors import PkiError
from zorgid.pki.loading import load_certificates
from zorgid.pki.revocation import CrlFileSource, CrlUrlSource, OcspClient, RevocationChecker
from zorgid.pki.trust import CertificateValidator, TrustConfig
from zorgid.registration.errors import RequestUnknownError, TrustNotConfiguredError
from zorgid.registration.proofofwork import ProofOfWork, proof_key
from zorgid.registration.service import RegistrationService

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from cryptography import x509
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from zorgid.settings import Settings

KEY_BYTES = 32
#: How long ended logins, sessions and activation codes are kept (for support questions).
KEEP_EXPIRED = dt.timedelta(days=1)


class KeyMissingError(ZorgidError):
    """A key file the service needs is missing or damaged."""

    code = "key_missing"
    message = N_(
        "The key file {path} is missing or damaged. Run `zorgid init` to create the keys, or "
        "restore the file from your backup (without pin.key no PIN can be checked, without "
        "audit.key the audit log cannot be checked or continued)."
    )
    exit_code = 2


@dataclass(frozen=True)
class Keys:
    """Secrets kept outside the database."""

    pin: bytes  # PIN material MAC key (docs/protocol.md, "PIN")
    secret: bytes  # signs CSRF tokens
    audit: ChainKey  # keys the audit log's hash chain (zorgid.audit.log)
    checkpoint: CheckpointSigner  # signs checkpoints of the audit log (zorgid.audit.checkpoints)


@dataclass
class Container:
    """Everything long-lived, for one process."""

    settings: Settings
    clock: Clock
    engine: Engine
    sessions: sessionmaker[Session]
    read_sessions: sessionmaker[Session]
    keys: Keys
    #: Plain DBAPI access for the steps on every login's path (zorgid.db.raw).
    raw: RawDatabase
    events: LoginEvents = field(default_factory=LocalEvents)
    #: SQLite has one writer at a time. Writers of this process queue on this lock, which
    #: wakes the next one at once, rather than on SQLite's busy handler, which sleeps in steps
    #: of up to 100 ms. (Other processes on the same file still meet the busy timeout.)
    write_lock: contextlib.AbstractContextManager[object] = field(
        default_factory=contextlib.nullcontext
    )
    #: Set after a transaction queued mail, so that the outbox worker delivers it at once.
    mail_queued: threading.Event = field(default_factory=threading.Event)
    _validator: CertificateValidator | None = field(default=None, init=False, repr=False)
    _validator_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @contextlib.contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """One transaction: commit on success; on a refusal commit only what it must keep."""
        with self.write_lock:
            yield from self._unit_of_work()

    def _unit_of_work(self) -> Iterator[Session]:
        session = self.sessions()
        try:
            yield session
        except ZorgidError as error:
            if error.keeps_changes:
                self._commit(session)
            else:
                session.rollback()
            raise
        except BaseException:
            session.rollback()
            raise
        else:
            self._commit(session)
        finally:
            session.close()

    def _commit(self, session: Session) -> None:
        session.commit()
        if session.info.pop(MAIL_QUEUED, False):
            self.mail_queued.set()  # the outbox worker delivers it now, not at its next poll

    @contextlib.contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only transaction (no write lock on SQLite); nothing it does is kept."""
        session = self.read_sessions()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def purge_expired(self) -> int:
        """Delete what expired more than :data:`KEEP_EXPIRED` ago (logins, sessions, codes)."""
        before = self.clock.now() - KEEP_EXPIRED
        with self.unit_of_work() as session:
            return (
                purge_logins(session, before=before)
                + self.identity(session).purge(before=before)
                + MailQuota(session, self.clock).purge()
            )

    def identity(self, session: Session) -> IdentityService:
        """The identity service around ``session``."""
        return IdentityService(
            session=session,
            clock=self.clock,
            settings=self.settings,
            pin_key=self.keys.pin,
            audit=self.audit(session),
        )

    @functools.cached_property
    def logins(self) -> LoginService:
        """The steps of QR login (they run on the raw database, not in an ORM session)."""
        return LoginService(
            db=self.raw,
            clock=self.clock,
            settings=self.settings,
            pin_key=self.keys.pin,
            audit_key=self.keys.audit,
            events=self.events,
        )

    def close(self) -> None:
        """Close every database connection (the process or the test is done)."""
        self.raw.close()
        self.engine.dispose()

    def applications(self, session: Session) -> ApplicationService:
        """The list of accepted applications around ``session``."""
        return ApplicationService(session=session, clock=self.clock, audit=self.audit(session))

    def audit(self, session: Session) -> AuditLog:
        """The audit log around ``session``."""
        return AuditLog(session=session, clock=self.clock, key=self.keys.audit)

    def outbox(self, session: Session) -> Outbox:
        """The mail outbox around ``session`` (mail commits with the caller's transaction)."""
        return Outbox(session=session, clock=self.clock)

    def registration(self, session: Session) -> RegistrationService:
        """The registration service around ``session``."""
        return RegistrationService(
            session=session,
            clock=self.clock,
            settings=self.settings,
            identity=self.identity(session),
            outbox=self.outbox(session),
            audit=self.audit(session),
            applications=self.applications(session),
            validator=self.validator,
            quota=MailQuota(session, self.clock),
        )

    @functools.cached_property
    def proof_of_work(self) -> ProofOfWork:
        """The public form's proof-of-work challenges (ALTCHA), signed under ``secret.key``."""
        return ProofOfWork(
            key=proof_key(self.keys.secret),
            clock=self.clock,
            cost=self.settings.proof_of_work_cost,
            seconds=self.settings.proof_of_work_seconds,
        )

    def validator(self) -> CertificateValidator:
        """The trust store for organisation documents, built on first use (it reads files)."""
        with self._validator_lock:
            if self._validator is None:
                self._validator = CertificateValidator(trust_config(self.settings, self.clock))
            return self._validator

    def publish_checkpoint(self) -> Checkpoint | None:
        """Write a signed checkpoint of the audit log's head to the checkpoint directory.

        None when no directory is set, the log is empty or the head has not moved since the
        last checkpoint there.
        """
        directory = self.settings.audit_checkpoint_dir
        if directory is None:
            return None
        with self.reading() as session:
            return publish(session, self.keys.checkpoint, directory, now=self.clock.now())

    def expire_registrations(self) -> int:
        """Expire registration requests whose deadline passed."""
        with self.unit_of_work() as session:
            expired = self.registration(session).expire_due()
        if expired:
            self.mail_queued.set()
        return expired


def build(
    settings: Settings, *, clock: Clock | None = None, create_keys: bool = False
) -> Container:
    """Build the adapters for ``settings`` (keys are created only when asked)."""
    url = settings.resolved_database_url
    if url.startswith("sqlite:///"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    events: LoginEvents
    if engine.dialect.name == "postgresql":
        events = PostgresEvents(_libpq_conninfo(engine))
    else:
        events = LocalEvents()
    write_lock: contextlib.AbstractContextManager[object] = (
        threading.RLock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
    )
    return Container(
        write_lock=write_lock,
        raw=open_raw(url, write_lock=write_lock),
        settings=settings,
        clock=clock or SystemClock(),
        engine=engine,
        sessions=make_session_factory(engine),
        read_sessions=make_read_session_factory(engine),
        keys=load_keys(settings.resolved_key_dir, create=create_keys),
        events=events,
    )


class ReplyIntake:
    """Replies to request e-mails: from the inbound listener to the registration service."""

    def __init__(self, container: Container) -> None:
        self._container = container

    def _token(self, address: str) -> str | None:
        return token_from_address(address, domain=self._container.settings.mail_domain)

    def accepts_recipient(self, address: str) -> bool:
        """Whether ``address`` is the reply address of a request that still takes mail."""
        token = self._token(address)
        if token is None:
            return False
        with self._container.reading() as session:
            return self._container.registration(session).accepts_reply_token(token)

    def receive(self, recipient: str, envelope_from: str, raw: bytes) -> None:
        """Hand a reply to its request; the answer goes out by mail."""
        token = self._token(recipient)
        if token is None:
            raise RequestUnknownError(recipient)
        with self._container.unit_of_work() as session:
            self._container.registration(session).receive_mail(
                token, raw, envelope_from=envelope_from
            )

    def too_large(self, recipient: str) -> None:
        """Tell the request's technical administrator their reply was too large."""
        token = self._token(recipient)
        if token is not None:
            with self._container.unit_of_work() as session:
                self._container.registration(session).mail_too_large(token)


@dataclass
class MailRuntime:
    """The outbox worker thread and the inbound listener of one process."""

    container: Container
    inbound: InboundServer | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _worker: threading.Thread | None = None

    def start(self) -> None:
        """Start what the settings ask for."""
        settings = self.container.settings
        if settings.mail_worker:
            worker = OutboxWorker(
                unit_of_work=self.container.unit_of_work,
                reading=self.container.reading,
                clock=self.container.clock,
                sender=SmtpSender(
                    settings.smtp_host, settings.smtp_port, starttls=settings.smtp_starttls
                ),
            )
            self._worker = threading.Thread(
                target=worker.run,
                kwargs={"stop": self._stop, "wake": self.container.mail_queued},
                name="zorgid-outbox",
                daemon=True,
            )
            self._worker.start()
        if settings.inbound:
            self.inbound = InboundServer(
                settings.inbound_host,
                settings.inbound_port,
                ReplyIntake(self.container),
                lmtp=settings.inbound_lmtp,
                max_bytes=settings.inbound_max_bytes,
            )
            self.inbound.start()

    def stop(self) -> None:
        """Stop the listener and let the worker finish the message in hand."""
        if self.inbound is not None:
            self.inbound.stop()
        self._stop.set()
        self.container.mail_queued.set()
        if self._worker is not None:
            self._worker.join(timeout=30)


def trust_config(settings: Settings, clock: Clock) -> TrustConfig:
    """Trust anchors, intermediates and revocation checking for organisation documents."""
    anchor_paths = settings.paths(settings.trust_anchors)
    if not anchor_paths:
        raise TrustNotConfiguredError("ZORGID_TRUST_ANCHORS is empty")
    try:
        anchors = _certificates(anchor_paths)
        intermediates = _certificates(settings.paths(settings.trust_intermediates))
        crl_paths = settings.paths(settings.crl_files)
        revocation = (
            RevocationChecker(crl_sources=(CrlFileSource(crl_paths),))
            if crl_paths
            else RevocationChecker(
                crl_sources=(CrlUrlSource(cache_dir=settings.data_dir / "crl-cache", clock=clock),),
                ocsp=OcspClient(),
            )
        )
    except (OSError, PkiError) as error:
        raise TrustNotConfiguredError(f"cannot read the trust files: {error}") from error
    return TrustConfig(anchors=anchors, intermediates=intermediates, revocation=revocation)


def _certificates(paths: tuple[Path, ...]) -> tuple[x509.Certificate, ...]:
    found: list[x509.Certificate] = []
    for path in paths:
        found.extend(load_certificates(path.read_bytes(), path=str(path)))
    return tuple(found)


def _libpq_conninfo(engine: Engine) -> str:
    return plain_dsn(engine.url.render_as_string(hide_password=False))


def load_keys(key_dir: Path, *, create: bool) -> Keys:
    """Read the key files (making them first when ``create`` and they do not exist).

    Beside the secrets, ``checkpoint.pub`` holds the checkpoint key's public half, for
    auditors (made with the key; written again when missing).
    """
    checkpoint = CheckpointSigner(key_file(key_dir / "checkpoint.key", create=create))
    public = key_dir / "checkpoint.pub"
    if create and not public.exists():
        write_atomically(public, checkpoint.public.pem())
    return Keys(
        pin=key_file(key_dir / "pin.key", create=create),
        secret=key_file(key_dir / "secret.key", create=create),
        audit=ChainKey(key_file(key_dir / "audit.key", create=create)),
        checkpoint=checkpoint,
    )


def key_file(path: Path, *, create: bool = False) -> bytes:
    """The 32 random bytes in the key file ``path`` (made first when ``create``).

    :class:`KeyMissingError` when it cannot be read or holds something else.
    """
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(KEY_BYTES))
    try:
        key = path.read_bytes()
    except OSError:
        raise KeyMissingError(f"cannot read {path}", path=str(path)) from None
    if len(key) != KEY_BYTES:
        raise KeyMissingError(f"{path} holds {len(key)} bytes", path=str(path))
    return key
