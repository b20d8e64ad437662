"""What the registration service gives its callers: frozen views of forms and requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Mapping

    from zorgid.errors import ZorgidError
    from zorgid.mail.outbox import OutboxView
    from zorgid.registration.models import RegistrationRequest
    from zorgid.registration.states import RegistrationState


@dataclass(frozen=True)
class ApplicationForm:
    """What the technical administrator fills in (step 2), as typed."""

    ura: str
    organisation_name: str
    technical_name: str
    technical_email: str
    admin_name: str
    admin_email: str
    applications: tuple[str, ...]


@dataclass(frozen=True)
class AdminDetails:
    """What the portal administrator fills in (step 4), as typed."""

    full_name: str
    birth_date: str
    phone: str


@dataclass(frozen=True)
class Submitted:
    """A new request."""

    request_id: str
    number: str
    technical_email: str


@dataclass(frozen=True)
class RequestSummary:
    """One line of the operator's queue."""

    id: str
    number: str
    state: RegistrationState
    ura: str
    organisation_name: str
    technical_email: str
    admin_email: str
    created_at: dt.datetime
    updated_at: dt.datetime
    deadline_at: dt.datetime | None


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a request's timeline."""

    at: dt.datetime
    kind: str
    actor: str
    from_state: str | None
    to_state: str | None
    details: Mapping[str, object]


@dataclass(frozen=True)
class RequestDetail:
    """Everything the operator sees of a request."""

    summary: RequestSummary
    technical_name: str
    admin_name: str
    applications: tuple[str, ...]
    admin_full_name: str | None
    admin_birth_date: dt.date | None
    admin_phone: str | None
    admin_email_confirmed_at: dt.datetime | None
    reason: str | None
    verification: Mapping[str, object] | None
    timeline: tuple[TimelineEntry, ...]
    mails: tuple[OutboxView, ...]
    #: What the operator can do now: a subset of {"approve", "reject", "resend"}.
    actions: frozenset[str]


@dataclass(frozen=True)
class PublicRequest:
    """What the holder of the reply token sees of their request."""

    number: str
    state: RegistrationState
    organisation_name: str
    ura: str
    deadline_at: dt.datetime | None
    can_upload: bool
    can_withdraw: bool


@dataclass(frozen=True)
class IntakeResult:
    """The outcome of a signed document sent in: accepted, or the error to fix."""

    accepted: bool
    error: ZorgidError | None
    request: PublicRequest


@dataclass(frozen=True)
class DetailsPage:
    """What the portal administrator's page shows."""

    number: str
    organisation_name: str
    admin_name: str
    admin_email: str
    confirmed: bool
    given: bool


def summary_of(request: RegistrationRequest) -> RequestSummary:
    """The queue line of ``request``."""
    return RequestSummary(
        id=request.id,
        number=request.number,
        state=request.state,
        ura=request.ura,
        organisation_name=request.organisation_name,
        technical_email=request.technical_email,
        admin_email=request.admin_email,
        created_at=request.created_at,
        updated_at=request.updated_at,
        deadline_at=request.deadline_at,
    )
