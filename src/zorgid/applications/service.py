"""The list of accepted applications: what the public page shows and registrations may name.

The operator adds, changes and withdraws applications; every change is audited. Ids are never
reused: a withdrawn application keeps its id, so an old organisation document that names it can
never come to mean another application. The caller owns the transaction.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from zorgid.applications.errors import (
    ApplicationExistsError,
    ApplicationInvalidError,
    ApplicationNotAcceptedError,
    ApplicationUnknownError,
    ApplicationWithdrawnError,
)
from zorgid.applications.models import AcceptedApplication
from zorgid.core.i18n import N_

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable

    from sqlalchemy.orm import Session

    from zorgid.audit.log import AuditLog
    from zorgid.core.clock import Clock

ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
MAX_NAME = 200
MAX_SUPPORTS = 500
MAX_WEBSITE = 300
#: Control characters, bidirectional overrides and angle brackets have no place in a name.
_BAD_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069<>]")
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?")


@dataclass(frozen=True)
class ApplicationView:
    """One accepted (or withdrawn) application, for display."""

    id: str
    name: str
    vendor: str
    supports: str
    website: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    withdrawn_at: dt.datetime | None

    @property
    def withdrawn(self) -> bool:
        """True once the operator withdrew it."""
        return self.withdrawn_at is not None

    def as_json(self) -> dict[str, object]:
        """The public JSON of the list (``GET /api/toepassingen``)."""
        return {
            "id": self.id,
            "name": self.name,
            "vendor": self.vendor,
            "supports": self.supports,
            "website": self.website,
        }


@dataclass(frozen=True)
class _Fields:
    name: str
    vendor: str
    supports: str
    website: str | None


def normalise_id(raw: str) -> str:
    """An id as stored: trimmed and in lower case."""
    return raw.strip().lower()


def _text(raw: str) -> str:
    return " ".join(raw.split())


def _check_text(value: str, limit: int) -> bool:
    return bool(value) and len(value) <= limit and not _BAD_CHARS.search(value)


def _website(raw: str) -> tuple[str | None, str | None]:
    """The website as stored (or None), and the problem (or None)."""
    value = raw.strip()
    if not value:
        return None, None
    problem = N_(
        "Give the website as a full address starting with https://, such as "
        "https://www.example.nl (at most 300 characters), or leave it empty."
    )
    if len(value) > MAX_WEBSITE or _BAD_CHARS.search(value) or any(c.isspace() for c in value):
        return None, problem
    try:
        parts = urllib.parse.urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return None, problem
    # Only https, and no user name in front of the host: "https://bank.nl@evil.example" is a
    # well-known way to make a link look like another site.
    if parts.scheme != "https" or not _HOST.fullmatch(parts.netloc) or "." not in parts.netloc:
        return None, problem
    return value, None


class ApplicationService:
    """Reading and keeping the list of accepted applications, in one database session."""

    def __init__(self, *, session: Session, clock: Clock, audit: AuditLog) -> None:
        self._session = session
        self._clock = clock
        self._audit = audit

    # -- reading ----------------------------------------------------------------------------

    def listed(self) -> list[ApplicationView]:
        """The public list: every application that is not withdrawn, by name."""
        rows = self._session.scalars(
            select(AcceptedApplication)
            .where(AcceptedApplication.withdrawn_at.is_(None))
            .order_by(AcceptedApplication.name, AcceptedApplication.id)
        )
        return [_view(row) for row in rows]

    def all(self) -> list[ApplicationView]:
        """Every application ever accepted, withdrawn ones last, by name."""
        rows = self._session.scalars(
            select(AcceptedApplication).order_by(
                AcceptedApplication.withdrawn_at.is_not(None),
                AcceptedApplication.name,
                AcceptedApplication.id,
            )
        )
        return [_view(row) for row in rows]

    def get(self, application_id: str) -> ApplicationView:
        """One application (also a withdrawn one), or :class:`ApplicationUnknownError`."""
        return _view(self._row(application_id))

    def known_ids(self, ids: Iterable[str]) -> tuple[str, ...]:
        """``ids`` without repeats, in order, if all are listed; else the ones that are not.

        Raises :class:`ApplicationNotAcceptedError` naming every id that is unknown or withdrawn.
        """
        wanted = tuple(dict.fromkeys(normalise_id(ident) for ident in ids))
        plausible = [ident for ident in wanted if ID_PATTERN.fullmatch(ident)]
        listed = (
            set(
                self._session.scalars(
                    select(AcceptedApplication.id).where(
                        AcceptedApplication.id.in_(plausible),
                        AcceptedApplication.withdrawn_at.is_(None),
                    )
                )
            )
            if plausible
            else set()
        )
        unknown = [ident for ident in wanted if ident not in listed]
        if unknown:
            raise ApplicationNotAcceptedError(unknown)
        return wanted

    # -- keeping ----------------------------------------------------------------------------

    def add(  # noqa: PLR0913 - the fields of the form, and who asks from where
        self,
        application_id: str,
        name: str,
        vendor: str,
        supports: str,
        website: str,
        *,
        actor: str,
        source: str,
    ) -> ApplicationView:
        """Put a new application on the list."""
        ident = normalise_id(application_id)
        problems: dict[str, str] = {}
        if not ID_PATTERN.fullmatch(ident):
            problems["id"] = N_(
                "Give an id of 2 to 63 characters: lower-case letters, digits and hyphens, "
                "starting with a letter or digit (such as example-his)."
            )
        fields = _check(name, vendor, supports, website, problems)
        if problems:
            raise ApplicationInvalidError(problems)
        assert fields is not None  # noqa: S101 - no problems means every field was read
        if self._session.get(AcceptedApplication, ident) is not None:
            raise ApplicationExistsError(id=ident)
        now = self._clock.now()
        row = AcceptedApplication(
            id=ident,
            name=fields.name,
            vendor=fields.vendor,
            supports=fields.supports,
            website=fields.website,
            created_at=now,
            updated_at=now,
            withdrawn_at=None,
        )
        self._session.add(row)
        self._session.flush()
        self._audit.record(
            "application.added",
            actor=actor,
            subject=f"application:{ident}",
            source=source,
            details={"name": fields.name, "vendor": fields.vendor},
        )
        return _view(row)

    def change(  # noqa: PLR0913 - the fields of the form, and who asks from where
        self,
        application_id: str,
        name: str,
        vendor: str,
        supports: str,
        website: str,
        *,
        actor: str,
        source: str,
    ) -> ApplicationView:
        """Change the name, vendor, description or website of a listed application."""
        problems: dict[str, str] = {}
        fields = _check(name, vendor, supports, website, problems)
        if problems:
            raise ApplicationInvalidError(problems)
        assert fields is not None  # noqa: S101 - no problems means every field was read
        row = self._row(application_id, lock=True)
        if row.withdrawn_at is not None:
            raise ApplicationWithdrawnError(id=row.id)
        changed = sorted(key for key, value in vars(fields).items() if getattr(row, key) != value)
        if not changed:
            return _view(row)
        row.name, row.vendor = fields.name, fields.vendor
        row.supports, row.website = fields.supports, fields.website
        row.updated_at = self._clock.now()
        self._session.flush()
        self._audit.record(
            "application.changed",
            actor=actor,
            subject=f"application:{row.id}",
            source=source,
            details={"fields": changed},
        )
        return _view(row)

    def withdraw(self, application_id: str, *, actor: str, source: str) -> ApplicationView:
        """Take an application off the public list (its id stays taken)."""
        row = self._row(application_id, lock=True)
        if row.withdrawn_at is not None:
            raise ApplicationWithdrawnError(id=row.id)
        now = self._clock.now()
        row.withdrawn_at = now
        row.updated_at = now
        self._session.flush()
        self._audit.record(
            "application.withdrawn",
            actor=actor,
            subject=f"application:{row.id}",
            source=source,
            details={"name": row.name},
        )
        return _view(row)

    # -- helpers ----------------------------------------------------------------------------

    def _row(self, application_id: str, *, lock: bool = False) -> AcceptedApplication:
        ident = normalise_id(application_id)
        row = None
        if ID_PATTERN.fullmatch(ident):
            row = self._session.get(AcceptedApplication, ident, with_for_update=lock)
        if row is None:
            raise ApplicationUnknownError(f"no application {ident[:64]!r}", id=ident[:64])
        return row


def _check(
    name: str, vendor: str, supports: str, website: str, problems: dict[str, str]
) -> _Fields | None:
    """The fields as stored, adding what is wrong with them to ``problems``."""
    clean_name, clean_vendor, clean_supports = _text(name), _text(vendor), _text(supports)
    if not _check_text(clean_name, MAX_NAME):
        problems["name"] = N_("Give the name of the application (at most 200 characters).")
    if not _check_text(clean_vendor, MAX_NAME):
        problems["vendor"] = N_("Give the name of the vendor (at most 200 characters).")
    if not _check_text(clean_supports, MAX_SUPPORTS):
        problems["supports"] = N_(
            "Say in a few words what the application supports, such as 'Logging in with "
            "ZORG-ID' (at most 500 characters)."
        )
    clean_website, problem = _website(website)
    if problem:
        problems["website"] = problem
    if problems:
        return None
    return _Fields(clean_name, clean_vendor, clean_supports, clean_website)


def _view(row: AcceptedApplication) -> ApplicationView:
    return ApplicationView(
        id=row.id,
        name=row.name,
        vendor=row.vendor,
        supports=row.supports,
        website=row.website,
        created_at=row.created_at,
        updated_at=row.updated_at,
        withdrawn_at=row.withdrawn_at,
    )
