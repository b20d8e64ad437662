"""Typed, frozen settings from ``ZORGID_*`` environment variables (see docs/operations.md)."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zorgid.core.i18n import N_
from zorgid.errors import ZorgidError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from ipaddress import IPv4Network, IPv6Network


class SettingsError(ZorgidError):
    """A ``ZORGID_*`` variable or option has a value that cannot be used."""

    code = "settings_invalid"
    message = N_("The setting {name} has a value that cannot be used: {value!r}. {reason}")
    exit_code = 2


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the service needs to know, read once at start-up."""

    #: Where the default SQLite database and the keys live.
    data_dir: Path = Path("zorgid-data")
    #: SQLAlchemy URL; empty means ``sqlite:///{data_dir}/zorgid.sqlite3``.
    database_url: str = ""
    #: Holds ``pin.key``, ``secret.key``, ``audit.key`` and ``checkpoint.key``; empty means
    #: ``{data_dir}/keys``. Keep it apart from the database (another disk, a secrets mount): a
    #: leaked database alone must reveal no PIN, and a database writer must not be able to
    #: rewrite the audit log unseen.
    key_dir: Path | None = None
    #: Where signed checkpoints of the audit log's head are written (another host or write-once
    #: storage); empty: none are written (``zorgid audit checkpoint --to DIR`` still can).
    audit_checkpoint_dir: Path | None = None
    #: Minutes between the running service's checkpoints (one only when the head moved; 0: none).
    audit_checkpoint_minutes: int = 60
    #: The base URL people and apps reach the service on (QR codes point here).
    public_url: str = "http://127.0.0.1:8000"
    #: The name the app shows when this service asks for a login.
    service_name: str = "ZORG-ID"
    host: str = "127.0.0.1"
    port: int = 8000
    #: ``development`` (readable logs) or ``production`` (JSON logs).
    environment: str = "development"
    log_level: str = "info"
    #: Cookies carry ``Secure``; turn off only for plain-HTTP hosts other than localhost.
    cookie_secure: bool = True
    #: Addresses of reverse proxies whose X-Forwarded-For is believed (comma-separated, as
    #: uvicorn's forwarded_allow_ips); empty: the peer address is the client's.
    forwarded_allow_ips: str = ""
    #: A request's head (request line and header fields): at most this many bytes and fields
    #: (more: 431), complete within this many seconds of its first byte (else: closed).
    http_max_head_bytes: int = 32_768
    http_max_headers: int = 100
    http_head_timeout_seconds: int = 10
    #: Client addresses or networks (comma-separated) that may read ``/metrics``; others get 404.
    metrics_allow: str = "127.0.0.1,::1"
    #: Requests per minute per client address that create a login or try a secret (0: none).
    rate_limit_per_minute: int = 300
    activation_ttl_minutes: int = 60
    login_ttl_seconds: int = 120
    #: A portal session ends this long after its login, however much it is used ...
    session_ttl_minutes: int = 480
    #: ... and this long after its last use (0: no idle end).
    session_idle_minutes: int = 15
    #: An operator's decisions need a login (QR and PIN) at most this old; older, they log in
    #: again first (0: any login of the session will do).
    reauth_minutes: int = 15
    pin_free_tries: int = 3
    pin_backoff_seconds: int = 60
    pin_max_failures: int = 6
    login_code_tries: int = 3
    activation_nonce_tries: int = 5
    #: Who the service's e-mail comes from.
    mail_from: str = "ZORG-ID <noreply@zorgid.localhost>"
    #: The domain of reply addresses (``aanvraag+<token>@domain``) and Message-IDs; its MX must
    #: point at the inbound listener below.
    mail_domain: str = "zorgid.localhost"
    #: The SMTP server outgoing mail is handed to.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_starttls: bool = False
    #: Deliver the outbox from this process (every node may; a claim keeps mail single).
    mail_worker: bool = True
    #: Listen for replies (SMTP, or LMTP behind the site's mail server) on host:port
    #: (port 0: any free port, for tests).
    inbound: bool = False
    inbound_host: str = "127.0.0.1"
    inbound_port: int = 2525
    inbound_lmtp: bool = False
    #: The largest reply accepted, in bytes (a signed document is at most 256 KiB).
    inbound_max_bytes: int = 1_048_576
    #: Trust anchors and intermediates for organisation documents: PEM files, comma-separated.
    trust_anchors: str = ""
    trust_intermediates: str = ""
    #: CRL files, comma-separated; empty: the CRLs and OCSP responders the certificates name.
    crl_files: str = ""
    #: What prefilled organisation documents say under Omgeving.
    document_environment: str = "acceptatie"
    #: Days an organisation has to answer (signed document, administrator's details).
    registration_reply_days: int = 14
    #: Hours a mailed activation QR of a new administrator stays valid.
    registration_activation_hours: int = 72
    #: Whom people write to about the service's e-mails (an address or a web page), named in
    #: the first e-mail of a request; empty: the public URL.
    contact: str = ""
    #: Requests from the public form per day (UTC) that may mail one address, and that may
    #: name one URA number; more are refused, and nothing is written or sent (0: no limit).
    mails_per_recipient_per_day: int = 3
    mails_per_ura_per_day: int = 3
    #: The proof of work the public form asks of the browser (ALTCHA, PBKDF2/SHA-256): the
    #: iterations of one attempt (about 256 attempts are needed on average), and how long a
    #: challenge may be used, in seconds.
    proof_of_work_cost: int = 5000
    proof_of_work_seconds: int = 600

    @property
    def resolved_database_url(self) -> str:
        """The database URL, with the SQLite default filled in."""
        return self.database_url or f"sqlite:///{self.data_dir / 'zorgid.sqlite3'}"

    @property
    def resolved_key_dir(self) -> Path:
        """The key directory, with the default filled in."""
        return self.key_dir or self.data_dir / "keys"

    @property
    def public_host(self) -> str:
        """The host (and port) part of the public URL, as the app shows it."""
        return self.public_url.split("://", 1)[-1].split("/", 1)[0]

    @property
    def metrics_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        """The networks of ``metrics_allow``."""
        return tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in self.metrics_allow.split(",")
            if part.strip()
        )

    @staticmethod
    def paths(value: str) -> tuple[Path, ...]:
        """The paths of a comma-separated setting."""
        return tuple(Path(part.strip()) for part in value.split(",") if part.strip())

    def replace(self, **changes: Any) -> Settings:  # noqa: ANN401 - same types as the fields
        """A copy with some fields changed (command options override the environment)."""
        return dataclasses.replace(self, **changes)


def from_environment(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``ZORGID_<FIELD>`` variables; unset ones keep their defaults."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for field in dataclasses.fields(Settings):
        name = f"ZORGID_{field.name.upper()}"
        raw = environ.get(name)
        if raw is None or raw == "":
            continue
        values[field.name] = _convert(name, raw, str(field.type))
    settings = Settings(**values)
    _check(settings)
    return settings


def check(settings: Settings) -> Settings:
    """``settings`` (changed by command options), or the error of a value that cannot be used."""
    _check(settings)
    return settings


def _convert(name: str, raw: str, kind: str) -> object:
    if kind == "int":
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(name=name, value=raw, reason=N_("Give a whole number.")) from None
        if value < 0:
            raise SettingsError(name=name, value=raw, reason=N_("Give a whole number."))
        return value
    if kind == "bool":
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise SettingsError(name=name, value=raw, reason=N_("Give true or false."))
    if kind in {"Path", "Path | None"}:
        return Path(raw)
    return raw


def _check(settings: Settings) -> None:
    if not settings.public_url.startswith(("http://", "https://")) or settings.public_url.endswith(
        "/"
    ):
        raise SettingsError(
            name="ZORGID_PUBLIC_URL",
            value=settings.public_url,
            reason=N_("Give a URL starting with https:// (or http://), without a trailing /."),
        )
    if settings.environment not in {"development", "production"}:
        raise SettingsError(
            name="ZORGID_ENVIRONMENT",
            value=settings.environment,
            reason=N_("Give development or production."),
        )
    if settings.document_environment not in {"acceptatie", "productie"}:
        raise SettingsError(
            name="ZORGID_DOCUMENT_ENVIRONMENT",
            value=settings.document_environment,
            reason=N_("Give acceptatie or productie."),
        )
    for name, value in (
        ("ZORGID_PROOF_OF_WORK_COST", settings.proof_of_work_cost),
        ("ZORGID_PROOF_OF_WORK_SECONDS", settings.proof_of_work_seconds),
    ):
        if value < 1:
            raise SettingsError(
                name=name,
                value=str(value),
                reason=N_("Give at least 1: the public form always asks for the proof of work."),
            )
    if settings.pin_free_tries < 1 or settings.pin_max_failures <= settings.pin_free_tries:
        raise SettingsError(
            name="ZORGID_PIN_MAX_FAILURES",
            value=str(settings.pin_max_failures),
            reason=N_("It must be larger than ZORGID_PIN_FREE_TRIES, which must be at least 1."),
        )
    try:
        settings.metrics_networks  # noqa: B018 - parsed here to refuse a bad value at start
    except ValueError:
        raise SettingsError(
            name="ZORGID_METRICS_ALLOW",
            value=settings.metrics_allow,
            reason=N_("Give IP addresses or networks (10.0.0.0/8), comma-separated."),
        ) from None
