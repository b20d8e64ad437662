"""Registration of a care organisation (flow 1b): from the application form to the first login.

The caller owns the transaction (one unit of work per call). Every state change goes through
:meth:`RegistrationService._move`, which asks the state machine (:mod:`.states`), writes the
timeline, and queues the e-mails in the same transaction (the transactional outbox), so a state
change and its e-mails happen together or not at all. A refused document or mail changes no
state: it only adds a timeline line and an answer.

Secrets are kept as hashes: the reply token (reply address and upload link), the details token
(the administrator's link) and the document's challenge.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from zorgid.applications.errors import ApplicationNotAcceptedError
from zorgid.core.i18n import N_, Message
from zorgid.core.linktext import find_link
from zorgid.core.qrcode import make_qr, png_bytes
from zorgid.core.tokens import hash_token, new_digits, new_id, new_token
from zorgid.errors import ZorgidError
from zorgid.identity.errors import PersonUnknownError
from zorgid.identity.models import Device, DeviceStatus, Membership, Organisation, Person, Role
from zorgid.mail.compose import Attachment, compose
from zorgid.mail.errors import MailTooLargeError
from zorgid.mail.inbound import InboundLimits, new_mail_token, parse_inbound, reply_address
from zorgid.orgdoc.document import MAX_DOCUMENT_BYTES, OrganisationDocument, build_tree, serialise
from zorgid.orgdoc.errors import ChallengeExpiredError, ChallengeUnknownError, ChallengeUsedError
from zorgid.orgdoc.verify import DocumentVerifier, Expectations
from zorgid.registration import mails
from zorgid.registration.errors import (
    AdministratorIsOperatorError,
    DocumentValuesError,
    FormInvalidError,
    MailLimitError,
    NoAttachmentError,
    OrganisationExistsError,
    RequestUnknownError,
    TooManyAttachmentsError,
    TransitionNotAllowedError,
)
from zorgid.registration.models import RegistrationEvent as TimelineRow
from zorgid.registration.models import RegistrationRequest
from zorgid.registration.states import (
    INITIAL,
    RESENDABLE,
    WAITING,
    RegistrationEvent,
    RegistrationState,
    next_state,
)
from zorgid.registration.views import (
    AdminDetails,
    ApplicationForm,
    DetailsPage,
    IntakeResult,
    PublicRequest,
    RequestDetail,
    RequestSummary,
    Submitted,
    TimelineEntry,
    summary_of,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from sqlalchemy.orm import Session

    from zorgid.applications.service import ApplicationService
    from zorgid.audit.log import AuditLog
    from zorgid.core.clock import Clock
    from zorgid.identity.service import IdentityService
    from zorgid.mail.outbox import Outbox
    from zorgid.mail.quota import MailQuota
    from zorgid.pki.trust import CertificateValidator
    from zorgid.pki.uzi import UziCertificate
    from zorgid.settings import Settings

S = RegistrationState
E = RegistrationEvent

_URA = re.compile(r"[0-9]{8}")
_EMAIL = re.compile(r"[^@\s<>\"',;]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")
_BAD_TEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069<>]")
_PHONE = re.compile(r"\+?[0-9]{6,15}")
_APP_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
MAX_NAME = 200
MAX_APPLICATIONS = 50
MAX_REASON = 1000
NUMBER_TRIES = 5
#: Refusals answered by mail per request per day; more are only written on the timeline.
MAX_REFUSAL_ANSWERS_PER_DAY = 10
SYSTEM = "system"
#: Names end up in the e-mails the service sends: none may carry a link or an address.
NO_LINKS = N_(
    "Fill in only a name: web addresses (http://, www., a domain such as example.nl) and "
    "e-mail addresses are not allowed here."
)
#: Where the document holds each field of the application form.
_SIGNED_FIELDS = {
    "ura": "Organisatie/URA",
    "organisation_name": "Organisatie/Naam",
    "technical_name": "TechnischBeheerder/Naam",
    "technical_email": "TechnischBeheerder/Email",
    "admin_name": "PortaalAdministrator/Naam",
    "admin_email": "PortaalAdministrator/Email",
    "applications": "Applicaties/Applicatie",
}
#: The oldest and youngest birth date the details form accepts (years before today).
OLDEST, YOUNGEST = 120, 16


class _RequestChallenge:
    """The verifier's challenge registry for one locked request: the challenge is single use."""

    def __init__(self, request: RegistrationRequest) -> None:
        self._request = request

    def redeem(self, request_number: str, challenge: str, at: dt.datetime) -> None:
        """Mark the request's challenge used, or say why it cannot be."""
        request = self._request
        if (
            request.challenge_hash is None
            or request_number != request.number
            or hash_token(challenge) != request.challenge_hash
        ):
            raise ChallengeUnknownError(request=request_number)
        if request.challenge_used_at is not None:
            raise ChallengeUsedError
        if request.deadline_at is not None and at >= request.deadline_at:
            raise ChallengeExpiredError(expired_at=request.deadline_at.isoformat())
        request.challenge_used_at = at


class RegistrationService:
    """Operations on registration requests, in one database session."""

    def __init__(  # noqa: PLR0913 - the collaborators of a registration
        self,
        *,
        session: Session,
        clock: Clock,
        settings: Settings,
        identity: IdentityService,
        outbox: Outbox,
        audit: AuditLog,
        applications: ApplicationService,
        validator: Callable[[], CertificateValidator],
        quota: MailQuota,
    ) -> None:
        self._session = session
        self._clock = clock
        self._settings = settings
        self._identity = identity
        self._outbox = outbox
        self._audit = audit
        self._applications = applications
        self._validator = validator
        self._quota = quota

    # -- step 2: the application form ---------------------------------------------------------

    def submit(self, form: ApplicationForm, *, language: str, source: str) -> Submitted:
        """Register a request and mail the technical administrator the document to sign.

        Anyone can fill in the form with anyone's address: per day only a few requests may
        mail one address or name one URA (:class:`MailQuota`, counted in this transaction, so
        a refusal writes and sends nothing).
        """
        clean = self._checked_form(form)
        settings = self._settings
        if not (
            self._quota.take(
                "recipient", clean.technical_email, settings.mails_per_recipient_per_day
            )
            and self._quota.take("ura", clean.ura, settings.mails_per_ura_per_day)
        ):
            raise MailLimitError(f"daily limit for {clean.technical_email} or URA {clean.ura}")
        now = self._clock.now()
        request = RegistrationRequest(
            id=new_id(),
            number=self._new_number(now),
            state=INITIAL,
            language=language if language in mails.LANGUAGES else "nl",
            ura=clean.ura,
            organisation_name=clean.organisation_name,
            technical_name=clean.technical_name,
            technical_email=clean.technical_email,
            admin_name=clean.admin_name,
            admin_email=clean.admin_email,
            applications=list(clean.applications),
            created_at=now,
            updated_at=now,
            deadline_at=self._deadline(now),
        )
        self._session.add(request)
        self._session.flush()  # the timeline refers to the row
        self._timeline(
            request, "submitted", actor=SYSTEM, to_state=INITIAL, details={"source": source}
        )
        self._send_request_mail(request)
        self._record(request, "submitted", actor="anonymous", source=source, ura=request.ura)
        return Submitted(request.id, request.number, request.technical_email)

    def _new_number(self, now: dt.datetime) -> str:
        # Random rather than sequential: numbers reveal nothing about volumes and need no
        # counter row that every submission would queue on.
        for _ in range(NUMBER_TRIES):
            number = f"ZID-{now.year:04d}-{new_digits(6)}"
            taken = self._session.scalar(
                select(RegistrationRequest.id).where(RegistrationRequest.number == number)
            )
            if taken is None:
                return number
        msg = "no free request number after several tries"
        raise RuntimeError(msg)

    def _checked_form(self, form: ApplicationForm) -> ApplicationForm:
        problems: dict[str, str | Message] = {}
        ura = form.ura.strip()
        if not _URA.fullmatch(ura):
            problems["ura"] = N_("Give the URA number of the organisation: exactly 8 digits.")
        clean_names = _checked_names(
            {
                "organisation_name": form.organisation_name,
                "technical_name": form.technical_name,
                "admin_name": form.admin_name,
            },
            problems,
        )
        emails = {"technical_email": form.technical_email, "admin_email": form.admin_email}
        clean_emails = {key: value.strip().lower() for key, value in emails.items()}
        for key, value in clean_emails.items():
            if not _EMAIL.fullmatch(value) or len(value) > 254:  # noqa: PLR2004 - RFC 5321
                problems[key] = N_("Give a valid e-mail address, such as naam@praktijk.nl.")
        applications = tuple(dict.fromkeys(a.strip() for a in form.applications if a.strip()))
        if not applications:
            problems["applications"] = N_(
                "Choose at least one application from the list of accepted applications."
            )
        elif len(applications) > MAX_APPLICATIONS or not all(
            _APP_ID.fullmatch(a) for a in applications
        ):
            problems["applications"] = N_("Choose applications from the list only.")
        else:
            try:
                applications = self._applications.known_ids(applications)
            except ApplicationNotAcceptedError as refused:
                problems["applications"] = Message(
                    N_(
                        "Choose applications from the list only: {unknown} is not an accepted "
                        "application."
                    ),
                    {"unknown": ", ".join(sorted(refused.unknown))},
                )
        if problems:
            raise FormInvalidError(problems)
        return ApplicationForm(
            ura=ura,
            organisation_name=clean_names["organisation_name"],
            technical_name=clean_names["technical_name"],
            technical_email=clean_emails["technical_email"],
            admin_name=clean_names["admin_name"],
            admin_email=clean_emails["admin_email"],
            applications=applications,
        )

    def _send_request_mail(self, request: RegistrationRequest) -> None:
        """A fresh reply token and challenge, and the request e-mail with the document."""
        token = new_mail_token()
        challenge = new_token(32)
        request.reply_token_hash = hash_token(token)
        request.challenge_hash = hash_token(challenge)
        request.challenge_used_at = None
        document = OrganisationDocument().with_values(
            [
                ("Aanvraag/Aanvraagnummer", request.number),
                ("Aanvraag/Uitdaging", challenge),
                ("Aanvraag/Omgeving", self._settings.document_environment),
                ("Organisatie/URA", request.ura),
                ("Organisatie/Naam", request.organisation_name),
                ("TechnischBeheerder/Naam", request.technical_name),
                ("TechnischBeheerder/Email", request.technical_email),
                ("PortaalAdministrator/Naam", request.admin_name),
                ("PortaalAdministrator/Email", request.admin_email),
                ("Applicaties/Applicatie", ",".join(request.applications)),
            ]
        )
        attachment = Attachment(
            filename=f"organisatiedocument-{request.number}.xml",
            content_type="application/xml",
            data=serialise(build_tree(document, keep_empty=True)),
        )
        assert request.deadline_at is not None  # noqa: S101 - a waiting state has a deadline
        letter = mails.request_letter(
            number=request.number,
            organisation=request.organisation_name,
            ura=request.ura,
            asked_at=request.created_at,
            form_url=f"{self._settings.public_url}/aanvraag",
            contact=self._settings.contact or self._settings.public_url,
            upload_url=f"{self._settings.public_url}/aanvraag/{token}",
            deadline=request.deadline_at,
            document=attachment,
            service=self._settings.service_name,
        )
        self._mail(request, request.technical_email, letter, reply_token=token)

    # -- step 3: the signed document, by mail or upload ----------------------------------------

    def accepts_reply_token(self, token: str) -> bool:
        """Whether a reply address's token belongs to a request that can still take mail."""
        request = self._find_by_token(token, lock=False)
        return request is not None and not request.state.final

    def public_request(self, token: str) -> PublicRequest:
        """What the upload page shows for the token in the request e-mail's link."""
        request = self._by_token(token, lock=False)
        return self._public(request)

    def upload(self, token: str, data: bytes, *, source: str) -> IntakeResult:
        """A signed document uploaded on the page from the request e-mail."""
        request = self._by_token(token, lock=True)
        self._require(request, E.DOCUMENT_ACCEPTED)
        return self._intake(request, data, via="upload", source=source)

    def receive_mail(self, recipient_token: str, raw: bytes, *, envelope_from: str) -> IntakeResult:
        """A reply to the request e-mail: its one attachment is the signed document.

        Whatever is wrong, the answer goes to the technical administrator's address on the
        request (never to the sender, who may be anyone) and the request's state is unchanged.
        """
        request = self._by_token(recipient_token, lock=True)
        details: dict[str, object] = {"envelope_from": envelope_from[:320], "bytes": len(raw)}
        try:
            mail = parse_inbound(raw, self._limits())
            details.update(
                message_id=(mail.message_id or "")[:200], subject=(mail.subject or "")[:200]
            )
            self._require(request, E.DOCUMENT_ACCEPTED)
            if not mail.attachments:
                raise NoAttachmentError
            if len(mail.attachments) > 1:
                raise TooManyAttachmentsError(count=len(mail.attachments))
        except ZorgidError as error:
            self._timeline(request, "mail_in", actor="mail", details=details)
            return self._refuse(request, error, via="mail", notify=True)
        self._timeline(request, "mail_in", actor="mail", details=details)
        return self._intake(request, mail.attachments[0].data, via="mail", source="mail")

    def mail_too_large(self, recipient_token: str) -> None:
        """A reply was refused at the door for its size: tell the technical administrator."""
        request = self._find_by_token(recipient_token, lock=True)
        if request is None or request.state.final:
            return
        error = MailTooLargeError(limit_bytes=self._settings.inbound_max_bytes)
        self._refuse(request, error, via="mail", notify=True)

    def _limits(self) -> InboundLimits:
        return InboundLimits(max_bytes=self._settings.inbound_max_bytes)

    def _intake(
        self, request: RegistrationRequest, data: bytes, *, via: str, source: str
    ) -> IntakeResult:
        verifier = DocumentVerifier(
            validator=self._validator(),
            clock=self._clock,
            challenges=_RequestChallenge(request),
        )
        report = verifier.report(
            data[: MAX_DOCUMENT_BYTES + 1],
            expect=Expectations(ura=request.ura, request_number=request.number),
        )
        if report.error is not None or report.document is None or report.certificate is None:
            error = report.error or ChallengeUnknownError(request=request.number)
            return self._refuse(request, error, via=via, notify=via == "mail")
        document = report.document
        signed = ApplicationForm(
            ura=document.ura,
            organisation_name=document.naam,
            technical_name=document.get("TechnischBeheerder/Naam"),
            technical_email=document.get("TechnischBeheerder/Email"),
            admin_name=document.get("PortaalAdministrator/Naam"),
            admin_email=document.get("PortaalAdministrator/Email"),
            applications=tuple(document.applicaties),
        )
        try:
            # The signed values replace the form's, so they meet the form's rules: one plain
            # address per person (mail goes there), names without markup, listed applications.
            clean = self._checked_form(signed)
        except FormInvalidError as invalid:
            request.challenge_used_at = None  # not accepted: a corrected document may use it
            fields = sorted({_SIGNED_FIELDS[k] for k in invalid.problems if k in _SIGNED_FIELDS})
            error = DocumentValuesError(str(invalid), fields=", ".join(fields))
            return self._refuse(request, error, via=via, notify=via == "mail")
        now = self._clock.now()
        request.organisation_name = clean.organisation_name
        request.technical_name = clean.technical_name
        request.technical_email = clean.technical_email
        request.admin_name = clean.admin_name
        request.admin_email = clean.admin_email
        request.applications = list(clean.applications)
        request.signed_document = data
        request.verification = _report(document, report.certificate, via=via, at=now)
        self._move(
            request,
            E.DOCUMENT_ACCEPTED,
            actor="mail" if via == "mail" else "upload",
            details={"via": via},
        )
        self._mail(
            request,
            request.technical_email,
            mails.document_accepted_letter(
                number=request.number,
                organisation=request.organisation_name,
                ura=request.ura,
                technical=f"{request.technical_name} <{request.technical_email}>",
                admin=request.admin_name,
                admin_email=request.admin_email,
                applications=", ".join(request.applications),
                signer=report.certificate.subject,
                serial=report.certificate.serial,
            ),
        )
        self._send_details_mail(request)
        self._record(
            request, "document_accepted", actor=via, source=source, serial=report.certificate.serial
        )
        return IntakeResult(accepted=True, error=None, request=self._public(request))

    def _refuse(
        self, request: RegistrationRequest, error: ZorgidError, *, via: str, notify: bool
    ) -> IntakeResult:
        if notify:
            # Whoever knows a reply address could otherwise fill the technical administrator's
            # mailbox with refusals: beyond a few a day they are only on the timeline.
            since = self._clock.now() - dt.timedelta(days=1)
            answered = self._session.scalar(
                select(func.count())
                .select_from(TimelineRow)
                .where(
                    TimelineRow.request_id == request.id,
                    TimelineRow.kind == "document_refused",
                    TimelineRow.at >= since,
                )
            )
            notify = (answered or 0) < MAX_REFUSAL_ANSWERS_PER_DAY
        self._timeline(
            request,
            "document_refused",
            actor=via,
            details={
                "via": via,
                "code": error.code,
                "message": error.public_message("en"),
                "answered": notify,
            },
        )
        if notify:
            self._mail(
                request,
                request.technical_email,
                mails.document_refused_letter(number=request.number, reason=mails.ErrorText(error)),
            )
        self._record(request, "document_refused", actor=via, source=via, code=error.code)
        return IntakeResult(accepted=False, error=error, request=self._public(request))

    def withdraw(self, token: str, *, source: str) -> PublicRequest:
        """The technical administrator withdraws the request (link in the request e-mail)."""
        request = self._by_token(token, lock=True)
        self._move(request, E.WITHDRAW, actor="organisation", details={"source": source})
        self._notify_organisation(request, mails.WITHDRAWN_NOTICE)
        self._record(request, "withdrawn", actor="organisation", source=source)
        return self._public(request)

    # -- step 4: the portal administrator's details ----------------------------------------------

    def _send_details_mail(self, request: RegistrationRequest) -> None:
        token = new_token()
        request.details_token_hash = hash_token(token)
        assert request.deadline_at is not None  # noqa: S101 - a waiting state has a deadline
        self._mail(
            request,
            request.admin_email,
            mails.details_letter(
                number=request.number,
                organisation=request.organisation_name,
                admin=request.admin_name,
                url=f"{self._settings.public_url}/gegevens/{token}",
                deadline=request.deadline_at,
            ),
        )

    def details_page(self, token: str) -> DetailsPage:
        """What the administrator's page shows."""
        return self._details_view(self._by_details_token(token, lock=False))

    def confirm_email(self, token: str, *, source: str) -> DetailsPage:
        """The administrator confirms the address the link was sent to is theirs."""
        request = self._by_details_token(token, lock=True)
        self._require(request, E.DETAILS_GIVEN)
        if request.admin_email_confirmed_at is None:
            request.admin_email_confirmed_at = self._clock.now()
            request.updated_at = request.admin_email_confirmed_at
            self._timeline(
                request, "email_confirmed", actor="administrator", details={"source": source}
            )
            self._record(request, "email_confirmed", actor="administrator", source=source)
        return self._details_view(request)

    def give_details(self, token: str, details: AdminDetails, *, source: str) -> DetailsPage:
        """The administrator's full name, date of birth and phone; then the operator reviews."""
        request = self._by_details_token(token, lock=True)
        self._require(request, E.DETAILS_GIVEN)
        if request.admin_email_confirmed_at is None:
            raise TransitionNotAllowedError(
                "e-mail not confirmed", state=Message(request.state.label)
            )
        full_name, birth_date, phone = self._checked_details(details)
        request.admin_full_name = full_name
        request.admin_birth_date = birth_date
        request.admin_phone = phone
        self._move(request, E.DETAILS_GIVEN, actor="administrator", details={"source": source})
        self._record(request, "details_given", actor="administrator", source=source)
        return self._details_view(request)

    def _checked_details(self, details: AdminDetails) -> tuple[str, dt.date, str]:
        problems: dict[str, str] = {}
        full_name = " ".join(details.full_name.split())
        if not full_name or len(full_name) > MAX_NAME or _BAD_TEXT.search(full_name):
            problems["full_name"] = N_("Fill in your full name (at most 200 letters).")
        elif find_link(full_name):
            problems["full_name"] = NO_LINKS
        birth_date: dt.date | None = None
        try:
            birth_date = dt.date.fromisoformat(details.birth_date.strip())
        except ValueError:
            problems["birth_date"] = N_("Give your date of birth as YYYY-MM-DD, e.g. 1980-05-17.")
        else:
            today = self._clock.now().date()
            if not (
                today.replace(year=today.year - OLDEST)
                <= birth_date
                <= today.replace(year=today.year - YOUNGEST)
            ):
                problems["birth_date"] = N_(
                    "This date of birth cannot be right: check the year (YYYY-MM-DD)."
                )
        phone = re.sub(r"[\s().-]", "", details.phone)
        if not _PHONE.fullmatch(phone):
            problems["phone"] = N_(
                "Give a phone number of 6 to 15 digits, optionally starting with +, e.g. "
                "+31612345678."
            )
        if problems or birth_date is None:
            raise FormInvalidError(problems)
        return full_name, birth_date, phone

    # -- step 5: the operator ------------------------------------------------------------------

    def queue(self, states: Collection[RegistrationState] | None = None) -> list[RequestSummary]:
        """Requests, oldest waiting first (optionally only in ``states``)."""
        query = select(RegistrationRequest).order_by(
            RegistrationRequest.updated_at, RegistrationRequest.id
        )
        if states:
            query = query.where(RegistrationRequest.state.in_(list(states)))
        return [summary_of(r) for r in self._session.scalars(query)]

    def of_administrator(self, person_id: str) -> list[RequestSummary]:
        """The approved or completed requests whose portal administrator is this person."""
        query = (
            select(RegistrationRequest)
            .where(RegistrationRequest.admin_person_id == person_id)
            .order_by(RegistrationRequest.created_at)
        )
        return [summary_of(r) for r in self._session.scalars(query)]

    def detail(self, request_id: str) -> RequestDetail:
        """Everything about one request, with its timeline and e-mails."""
        request = self._by_id(request_id, lock=False)
        rows = self._session.scalars(
            select(TimelineRow).where(TimelineRow.request_id == request.id).order_by(TimelineRow.id)
        )
        actions = {
            name
            for name, event in (("approve", E.APPROVE), ("reject", E.REJECT))
            if next_state(request.state, event)
        }
        if request.state in RESENDABLE:
            actions.add("resend")
        return RequestDetail(
            summary=summary_of(request),
            technical_name=request.technical_name,
            admin_name=request.admin_name,
            applications=tuple(request.applications),
            admin_full_name=request.admin_full_name,
            admin_birth_date=request.admin_birth_date,
            admin_phone=request.admin_phone,
            admin_email_confirmed_at=request.admin_email_confirmed_at,
            reason=request.reason,
            verification=request.verification,
            timeline=tuple(
                TimelineEntry(r.at, r.kind, r.actor, r.from_state, r.to_state, r.details)
                for r in rows
            ),
            mails=tuple(self._outbox.for_topic(_topic(request))),
            actions=frozenset(actions),
        )

    def approve(self, request_id: str, *, actor: str, source: str) -> RequestDetail:
        """Create the organisation and its administrator, and mail the activation QR."""
        request = self._by_id(request_id, lock=True)
        self._require(request, E.APPROVE)
        if self._session.scalar(select(Organisation.id).where(Organisation.ura == request.ura)):
            raise OrganisationExistsError(ura=request.ura)
        now = self._clock.now()
        organisation = Organisation(
            id=new_id(), ura=request.ura, name=request.organisation_name, created_at=now
        )
        try:
            # A savepoint: another request for this URA approved at the same moment makes the
            # unique index refuse this one, which is the same answer as the check above.
            with self._session.begin_nested():
                self._session.add(organisation)
                self._session.flush()
        except IntegrityError:
            raise OrganisationExistsError(ura=request.ura) from None
        person = self._administrator(request, actor=actor, source=source)
        self._identity.grant(
            person, Role.ADMINISTRATOR, organisation=organisation, actor=actor, source=source
        )
        request.organisation_id = organisation.id
        request.admin_person_id = person.id
        self._move(request, E.APPROVE, actor=actor, details={"source": source})
        self._welcome_administrator(request, actor=actor, source=source)
        self._notify_organisation(request, mails.APPROVED_NOTICE)
        self._record(request, "approved", actor=actor, source=source, ura=request.ura)
        return self.detail(request.id)

    def _administrator(self, request: RegistrationRequest, *, actor: str, source: str) -> Person:
        """The person the administrator is: known by the confirmed address, or new."""
        try:
            person = self._identity.person_by_email(request.admin_email)
        except PersonUnknownError:
            try:
                # A savepoint: another approval making a person with this address at the same
                # moment makes the unique index refuse this one; that person is then ours.
                with self._session.begin_nested():
                    return self._identity.add_person(
                        name=request.admin_full_name or request.admin_name,
                        email=request.admin_email,
                        actor=actor,
                        source=source,
                    )
            except IntegrityError:
                person = self._identity.person_by_email(request.admin_email)
        if self._session.scalar(
            select(Membership.id).where(
                Membership.person_id == person.id, Membership.role == Role.OPERATOR
            )
        ):
            # Mailing an operator a new activation code would give whoever reads that
            # mailbox a device with the operator's powers.
            raise AdministratorIsOperatorError(email=request.admin_email)
        return person

    def _welcome_administrator(
        self, request: RegistrationRequest, *, actor: str, source: str, replaces: bool = False
    ) -> None:
        """A new administrator gets an activation QR; one whose app is active, a notice.

        A person who already has an active app (an administrator or healthcare worker
        elsewhere) logs in with it: a new code would only give whoever reads the mailbox a
        second device on an identity that was established before.
        """
        active = self._session.scalar(
            select(Device.id).where(
                Device.person_id == request.admin_person_id,
                Device.status == DeviceStatus.ACTIVE,
            )
        )
        if active is None:
            self._send_activation(request, actor=actor, source=source, replaces=replaces)
            return
        self._mail(
            request,
            request.admin_email,
            mails.existing_administrator_letter(
                number=request.number,
                admin=request.admin_name,
                organisation=request.organisation_name,
                portal=f"{self._settings.public_url}/",
            ),
        )

    def _send_activation(
        self, request: RegistrationRequest, *, actor: str, source: str, replaces: bool = False
    ) -> None:
        person = self._session.get_one(Person, request.admin_person_id)
        if replaces:
            self._identity.withdraw_activations(person, actor=actor, source=source)
        issued = self._identity.issue_activation(
            person,
            actor=actor,
            source=source,
            ttl=dt.timedelta(hours=self._settings.registration_activation_hours),
        )
        self._mail(
            request,
            request.admin_email,
            mails.approved_letter(
                number=request.number,
                admin=request.admin_full_name or request.admin_name,
                organisation=request.organisation_name,
                activation=Attachment(
                    "activatie-qr.png", "image/png", png_bytes(make_qr(issued.qr_text))
                ),
                qr_text=issued.qr_text,
                expires=issued.expires_at,
            ),
        )

    def reject(self, request_id: str, reason: str, *, actor: str, source: str) -> RequestDetail:
        """Reject with a reason, which the organisation is told."""
        reason = reason.strip()
        if not reason or len(reason) > MAX_REASON or _BAD_TEXT.search(reason.replace("\n", " ")):
            raise FormInvalidError(
                {"reason": N_("Give the reason the organisation will read (at most 1000 letters).")}
            )
        request = self._by_id(request_id, lock=True)
        request.reason = reason
        self._move(request, E.REJECT, actor=actor, details={"reason": reason, "source": source})
        self._notify_organisation(request, mails.REJECTED_NOTICE, reason=reason)
        self._record(request, "rejected", actor=actor, source=source)
        return self.detail(request.id)

    def resend(self, request_id: str, *, actor: str, source: str) -> RequestDetail:
        """Send the mail the request waits on again, with new links (old ones stop working)."""
        request = self._by_id(request_id, lock=True)
        if request.state not in RESENDABLE:
            raise TransitionNotAllowedError(
                f"resend in {request.state}", state=Message(request.state.label)
            )
        request.deadline_at = self._deadline(self._clock.now())
        if request.state is S.AWAITING_DOCUMENT:
            self._send_request_mail(request)
        elif request.state is S.AWAITING_DETAILS:
            self._send_details_mail(request)
        else:
            # The new code replaces the old one (its mail may have gone astray).
            request.deadline_at = None
            self._welcome_administrator(request, actor=actor, source=source, replaces=True)
        request.updated_at = self._clock.now()
        self._timeline(request, "resent", actor=actor, details={"source": source})
        self._record(request, "resent", actor=actor, source=source, state=request.state.value)
        return self.detail(request.id)

    # -- steps 6-7 and time --------------------------------------------------------------------

    def first_login(self, person_id: str, *, source: str) -> int:
        """The administrator logged in to the portal: their approved requests are completed."""
        requests = self._session.scalars(
            select(RegistrationRequest)
            .where(
                RegistrationRequest.admin_person_id == person_id,
                RegistrationRequest.state == S.APPROVED,
            )
            .with_for_update()
        ).all()
        for request in requests:
            self._move(request, E.FIRST_LOGIN, actor=f"person:{person_id}", details={})
            self._record(request, "completed", actor=f"person:{person_id}", source=source)
        return len(requests)

    def expire_due(self) -> int:
        """Expire requests whose deadline passed; the organisation is told."""
        now = self._clock.now()
        due = self._session.scalars(
            select(RegistrationRequest)
            .where(
                RegistrationRequest.deadline_at <= now,
                RegistrationRequest.state.in_([s.value for s in WAITING]),
            )
            .with_for_update()
        ).all()
        for request in due:
            self._move(request, E.EXPIRE, actor=SYSTEM, details={})
            self._notify_organisation(request, mails.EXPIRED_NOTICE)
            self._record(request, "expired", actor=SYSTEM, source=SYSTEM)
        return len(due)

    # -- the machinery ----------------------------------------------------------------------

    def _move(
        self,
        request: RegistrationRequest,
        event: RegistrationEvent,
        *,
        actor: str,
        details: dict[str, object],
    ) -> None:
        """Change state as the state machine allows, with a timeline line; else refuse."""
        target = self._require(request, event)
        now = self._clock.now()
        previous = request.state
        request.state = target
        request.updated_at = now
        request.deadline_at = self._deadline(now) if target in WAITING else None
        if target.final:
            # Links and addresses of a finished request open nothing any more.
            request.details_token_hash = None
        self._timeline(
            request, event.value, actor=actor, from_state=previous, to_state=target, details=details
        )

    @staticmethod
    def _require(request: RegistrationRequest, event: RegistrationEvent) -> RegistrationState:
        target = next_state(request.state, event)
        if target is None:
            raise TransitionNotAllowedError(
                f"{event} in {request.state}", state=Message(request.state.label)
            )
        return target

    def _deadline(self, now: dt.datetime) -> dt.datetime:
        return now + dt.timedelta(days=self._settings.registration_reply_days)

    def _activation_deadline(self, now: dt.datetime) -> dt.datetime:
        return now + dt.timedelta(hours=self._settings.registration_activation_hours)

    def _record(
        self,
        request: RegistrationRequest,
        action: str,
        *,
        actor: str,
        source: str,
        **details: object,
    ) -> None:
        """An audit event ``registration.<action>`` about ``request`` (call it last)."""
        self._audit.record(
            f"registration.{action}",
            actor=actor,
            subject=f"registration:{request.id}",
            source=source,
            details={"number": request.number, **details},
        )

    def _timeline(  # noqa: PLR0913 - one line's fields
        self,
        request: RegistrationRequest,
        kind: str,
        *,
        actor: str,
        from_state: RegistrationState | None = None,
        to_state: RegistrationState | None = None,
        details: dict[str, object] | None = None,
    ) -> None:
        self._session.add(
            TimelineRow(
                request_id=request.id,
                at=self._clock.now(),
                kind=kind,
                actor=actor[:64],
                from_state=from_state.value if from_state else None,
                to_state=to_state.value if to_state else None,
                details=details or {},
            )
        )

    def _mail(
        self,
        request: RegistrationRequest,
        recipient: str,
        letter: mails.Letter,
        *,
        reply_token: str | None = None,
    ) -> None:
        subject, text = mails.render(letter)
        message = compose(
            sender=self._settings.mail_from,
            recipient=recipient,
            subject=subject,
            text=text,
            attachments=letter.attachments,
            reply_to=reply_address(reply_token, domain=self._settings.mail_domain)
            if reply_token
            else None,
            message_id_domain=self._settings.mail_domain,
        )
        outbox_id = self._outbox.enqueue(message, topic=_topic(request))
        self._timeline(
            request,
            "mail_out",
            actor=SYSTEM,
            details={"to": recipient, "subject": subject, "outbox": outbox_id},
        )

    def _notify_organisation(
        self, request: RegistrationRequest, notice: str, *, reason: str = ""
    ) -> None:
        what = Message(
            notice,
            {
                "number": request.number,
                "organisation": request.organisation_name,
                "reason": reason,
                "url": f"{self._settings.public_url}/aanvraag",
            },
        )
        self._mail(
            request,
            request.technical_email,
            mails.status_letter(number=request.number, what=what),
        )

    def _find_by_token(self, token: str, *, lock: bool) -> RegistrationRequest | None:
        return self._one(RegistrationRequest.reply_token_hash == hash_token(token.lower()), lock)

    def _by_token(self, token: str, *, lock: bool) -> RegistrationRequest:
        request = self._find_by_token(token, lock=lock)
        if request is None:
            raise RequestUnknownError("no request for this reply token")
        return request

    def _by_details_token(self, token: str, *, lock: bool) -> RegistrationRequest:
        request = self._one(RegistrationRequest.details_token_hash == hash_token(token), lock)
        if request is None:
            raise RequestUnknownError("no request for this details token")
        return request

    def _by_id(self, request_id: str, *, lock: bool) -> RegistrationRequest:
        request = self._one(RegistrationRequest.id == request_id, lock)
        if request is None:
            raise RequestUnknownError(f"no request {request_id!r}")
        return request

    def _one(self, condition: Any, lock: bool) -> RegistrationRequest | None:  # noqa: ANN401, FBT001
        query = select(RegistrationRequest).where(condition)
        if lock:
            query = query.with_for_update()
        return self._session.scalar(query)

    def _public(self, request: RegistrationRequest) -> PublicRequest:
        return PublicRequest(
            number=request.number,
            state=request.state,
            organisation_name=request.organisation_name,
            ura=request.ura,
            deadline_at=request.deadline_at,
            can_upload=next_state(request.state, E.DOCUMENT_ACCEPTED) is not None,
            can_withdraw=next_state(request.state, E.WITHDRAW) is not None,
        )

    @staticmethod
    def _details_view(request: RegistrationRequest) -> DetailsPage:
        return DetailsPage(
            number=request.number,
            organisation_name=request.organisation_name,
            admin_name=request.admin_name,
            admin_email=request.admin_email,
            confirmed=request.admin_email_confirmed_at is not None,
            given=request.admin_birth_date is not None,
        )


def _checked_names(names: dict[str, str], problems: dict[str, str | Message]) -> dict[str, str]:
    """The names with their spaces tidied; what is wrong with any goes into ``problems``."""
    clean = {key: " ".join(value.split()) for key, value in names.items()}
    for key, value in clean.items():
        if not value or len(value) > MAX_NAME or _BAD_TEXT.search(value):
            problems[key] = N_("Fill in a name of at most 200 letters, without < or >.")
        elif find_link(value):
            problems[key] = NO_LINKS
    return clean


def _topic(request: RegistrationRequest) -> str:
    return f"registration:{request.id}"


def _report(
    document: OrganisationDocument, certificate: UziCertificate, *, via: str, at: dt.datetime
) -> dict[str, Any]:
    """The verification report kept with an accepted document (JSON)."""
    uzi = certificate.uzi
    return {
        "valid": True,
        "checked_at": at.isoformat(),
        "via": via,
        "document": {
            "number": document.aanvraagnummer,
            "ura": document.ura,
            "name": document.naam,
            "environment": document.get("Aanvraag/Omgeving"),
            "signed_at": document.ondertekend.isoformat() if document.ondertekend else None,
            "applications": list(document.applicaties),
        },
        "certificate": {
            "subject": certificate.subject,
            "issuer": certificate.issuer,
            "serial": certificate.serial,
            "not_before": certificate.not_before.isoformat(),
            "not_after": certificate.not_after.isoformat(),
            "ura": uzi.ura if uzi else None,
            "card_type": uzi.card_type.value if uzi else None,
            "uzi_number": uzi.uzi_number if uzi else None,
            "environment": uzi.environment if uzi else None,
        },
    }


#: Whether the person of a login (``l.person_id``) administers an approved request that their
#: first login completes. Asked on every login, in the login's own read
#: (:meth:`zorgid.login.service.LoginService.complete`); only a yes costs the unit of work of
#: :meth:`RegistrationService.first_login`.
AWAITS_FIRST_LOGIN = (
    "EXISTS (SELECT 1 FROM registration_requests r WHERE r.admin_person_id = l.person_id "  # noqa: S608 - constants only
    f"AND r.state = '{S.APPROVED.value}')"
)
