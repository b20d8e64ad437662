"""The operator's back office under ``/beheer``: registration requests, applications, audit trail.

Every route depends on :data:`~zorgid.web.auth.OperatorDep` (a POST through :data:`PostedDep`,
which checks the operator before it reads the body), so nobody without the operator role gets
past the first line (tests/functional/test_authorisation.py checks every route). Forms carry the
session's CSRF token; a change answers with a redirect to a page that says what was done
(``?gedaan=...``, one of a fixed set: nothing from the address is echoed).
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import RedirectResponse, Response

from zorgid.applications.errors import (
    ApplicationExistsError,
    ApplicationInvalidError,
    ApplicationUnknownError,
)
from zorgid.audit.log import moment
from zorgid.core.i18n import N_
from zorgid.errors import ZorgidError
from zorgid.registration.errors import FormInvalidError, RequestUnknownError
from zorgid.registration.states import RegistrationState
from zorgid.web.auth import OperatorDep, Visitor, container_of, require_operator
from zorgid.web.client import client_ip
from zorgid.web.errors import STATUS, FreshLoginRequiredError, InvalidRequestError
from zorgid.web.forms import Form, Shown, problem_texts, read_form
from zorgid.web.language import request_language
from zorgid.web.pages import render

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from zorgid.registration.service import RegistrationService

router = APIRouter(prefix="/beheer")

#: No control characters in what is looked up: PostgreSQL refuses a NUL in any text (an error,
#: not a miss), and no id or subject of ours has one.
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
RequestId = Annotated[str, Path(max_length=64, pattern=PRINTABLE)]
ApplicationId = Annotated[str, Path(max_length=100, pattern=PRINTABLE)]
AUDIT_PAGE = 50
APPLICATION_FIELDS = ("id", "name", "vendor", "supports", "website")
#: What ``?gedaan=`` may say; anything else is ignored.
DONE = {
    "goedgekeurd": N_(
        "The request was approved. The portal administrator has been e-mailed the activation "
        "QR code."
    ),
    "afgewezen": N_("The request was rejected. The organisation has been told the reason."),
    "opnieuw": N_(
        "The e-mail was sent again with new links; the links in earlier e-mails no longer work."
    ),
    "toegevoegd": N_("The application was added to the list."),
    "gewijzigd": N_("The application was changed."),
    "ingetrokken": N_("The application was withdrawn: it is no longer on the public list."),
}


#: The last part of a decision's path, after the page that shows its form.
ACTIONS = frozenset({"goedkeuren", "afwijzen", "opnieuw-versturen", "intrekken"})
#: The form fields kept over a new login (what a person typed; never the token).
KEPT = ("reason", *APPLICATION_FIELDS)
KEPT_LENGTH = 5000


@dataclass(frozen=True)
class Posted:
    """A form an operator posted from a back-office page (its CSRF token checked)."""

    operator: Visitor
    form: Form


async def operator_post(request: Request) -> Posted:
    """The operator and their form, refused without the session's token.

    The body is read first (within its limit): one over the limit is a 413 for anyone, the
    same answer every route gives, before the visitor is asked who they are. Every form of the
    back office makes a decision, so it also needs a recent login (``ZORGID_REAUTH_MINUTES``):
    an older one is asked to log in again, and comes back to the page with what they typed.
    """
    form = await read_form(request)
    operator = await require_operator(request)
    container = container_of(request)
    secret = container.keys.secret
    operator.check_csrf(secret, form.text("csrf"))
    minutes = container.settings.reauth_minutes
    if not operator.login_is_fresh(container.clock.now(), minutes):
        raise FreshLoginRequiredError(
            f"login of {operator.person_id} older than {minutes} minutes",
            back=form_page(request.url.path),
            kept={name: form.text(name, KEPT_LENGTH) for name in KEPT if form.text(name)},
            csrf=operator.csrf(secret),
            minutes=minutes,
        )
    return Posted(operator, form)


def form_page(action: str) -> str:
    """The page whose form posts to ``action`` (a decision's path without its verb)."""
    page, _, last = action.rpartition("/")
    return page if last in ACTIONS else action


PostedDep = Annotated[Posted, Depends(operator_post)]


def _page(
    request: Request,
    operator: Visitor,
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
) -> Response:
    container = container_of(request)
    done = DONE.get(request.query_params.get("gedaan", ""))
    return render(
        request,
        template,
        {
            "operator": operator.profile,
            "csrf": operator.csrf(container.keys.secret),
            "done": done,
            "when": when,
            "state_label": state_label,
            **context,
        },
        status=status,
    )


def when(at: dt.datetime | dt.date | None) -> str:
    """A moment (UTC) or a date as the back office shows it."""
    if at is None:
        return "—"
    if isinstance(at, dt.datetime):
        return moment(at)
    return at.isoformat()


def state_label(value: str | None) -> str:
    """The English msgid naming a stored state (the value itself when it is not one)."""
    try:
        return RegistrationState(value or "").label
    except ValueError:
        return value or "—"


def _redirect(path: str, done: str) -> Response:
    return RedirectResponse(f"{path}?gedaan={done}", status_code=303)


def _quoted(value: str) -> str:
    return urllib.parse.quote(value, safe="")


# -- registration requests -------------------------------------------------------------------


@router.get("")
def queue(
    request: Request,
    operator: OperatorDep,
    state: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """Registration requests, oldest waiting first, optionally in one state."""
    chosen: RegistrationState | None = None
    if state:
        try:
            chosen = RegistrationState(state)
        except ValueError:
            raise InvalidRequestError(
                f"unknown state {state!r}", reason=N_("the state to filter on is not known.")
            ) from None
    container = container_of(request)
    with container.reading() as session:
        requests = container.registration(session).queue([chosen] if chosen else None)
    return _page(
        request,
        operator,
        "backoffice_queue.html",
        {"requests": requests, "states": list(RegistrationState), "chosen": chosen},
    )


def _request_page(
    request: Request,
    operator: Visitor,
    request_id: str,
    *,
    error: ZorgidError | None = None,
    reason: str = "",
) -> Response:
    container = container_of(request)
    with container.reading() as session:
        detail = container.registration(session).detail(request_id)
    lang = request_language(request)
    problems = problem_texts(error.problems, lang) if isinstance(error, FormInvalidError) else {}
    return _page(
        request,
        operator,
        "backoffice_request.html",
        {
            "r": detail,
            "s": detail.summary,
            "error": error.public_message(lang) if error and not problems else None,
            "problems": problems,
            "reason": reason,
            "audit_subject": f"registration:{detail.summary.id}",
        },
        status=STATUS.get(error.code, 400) if error else 200,
    )


@router.get("/aanvragen/{request_id}")
def request_detail(request_id: RequestId, request: Request, operator: OperatorDep) -> Response:
    """One request: its fields, the document's verification, its timeline and e-mails."""
    return _request_page(request, operator, request_id)


def _act(
    request: Request,
    posted: Posted,
    request_id: str,
    action: Callable[[RegistrationService], object],
    done: str,
) -> Response:
    container = container_of(request)
    try:
        with container.unit_of_work() as session:
            action(container.registration(session))
    except RequestUnknownError:
        raise
    except ZorgidError as error:
        return _request_page(
            request,
            posted.operator,
            request_id,
            error=error,
            reason=posted.form.text("reason", 5000),
        )
    return _redirect(f"/beheer/aanvragen/{_quoted(request_id)}", done)


@router.post("/aanvragen/{request_id}/goedkeuren")
def approve(request_id: RequestId, request: Request, posted: PostedDep) -> Response:
    """Approve: the organisation and its administrator are made, the activation QR mailed."""
    actor, source = posted.operator.actor, client_ip(request)
    return _act(
        request,
        posted,
        request_id,
        lambda service: service.approve(request_id, actor=actor, source=source),
        "goedgekeurd",
    )


@router.post("/aanvragen/{request_id}/afwijzen")
def reject(request_id: RequestId, request: Request, posted: PostedDep) -> Response:
    """Reject with a reason the organisation is told."""
    actor, source = posted.operator.actor, client_ip(request)
    reason = posted.form.text("reason", 5000)
    return _act(
        request,
        posted,
        request_id,
        lambda service: service.reject(request_id, reason, actor=actor, source=source),
        "afgewezen",
    )


@router.post("/aanvragen/{request_id}/opnieuw-versturen")
def resend(request_id: RequestId, request: Request, posted: PostedDep) -> Response:
    """Send the e-mail the request waits on again, with new links."""
    actor, source = posted.operator.actor, client_ip(request)
    return _act(
        request,
        posted,
        request_id,
        lambda service: service.resend(request_id, actor=actor, source=source),
        "opnieuw",
    )


# -- accepted applications -------------------------------------------------------------------


def _applications_page(request: Request, operator: Visitor, shown: Shown | None = None) -> Response:
    shown = shown or Shown()
    container = container_of(request)
    with container.reading() as session:
        applications = container.applications(session).all()
    return _page(
        request,
        operator,
        "backoffice_applications.html",
        {"applications": applications, "values": shown.values, "problems": shown.problems},
        status=shown.status,
    )


def _refused(error: ZorgidError, values: Mapping[str, str], lang: str) -> Shown:
    """The form again, with what was typed and what is wrong."""
    problems: Mapping[str, str]
    if isinstance(error, ApplicationInvalidError):
        problems = problem_texts(error.problems, lang)
    elif isinstance(error, ApplicationExistsError):
        problems = {"id": error.public_message(lang)}
    else:
        problems = {"form": error.public_message(lang)}
    return Shown(values=values, problems=problems, status=STATUS.get(error.code, 400))


@router.get("/toepassingen")
def applications(request: Request, operator: OperatorDep) -> Response:
    """Every application (withdrawn ones too), and the form to add one."""
    return _applications_page(request, operator)


@router.post("/toepassingen")
def add_application(request: Request, posted: PostedDep) -> Response:
    """Put an application on the list."""
    container = container_of(request)
    values = {name: posted.form.text(name) for name in APPLICATION_FIELDS}
    try:
        with container.unit_of_work() as session:
            container.applications(session).add(
                values["id"],
                values["name"],
                values["vendor"],
                values["supports"],
                values["website"],
                actor=posted.operator.actor,
                source=client_ip(request),
            )
    except (ApplicationInvalidError, ApplicationExistsError) as error:
        shown = _refused(error, values, request_language(request))
        return _applications_page(request, posted.operator, shown)
    return _redirect("/beheer/toepassingen", "toegevoegd")


def _application_page(
    request: Request, operator: Visitor, application_id: str, shown: Shown | None = None
) -> Response:
    container = container_of(request)
    with container.reading() as session:
        application = container.applications(session).get(application_id)
    shown = shown or Shown(
        values={
            "name": application.name,
            "vendor": application.vendor,
            "supports": application.supports,
            "website": application.website or "",
        }
    )
    return _page(
        request,
        operator,
        "backoffice_application.html",
        {"a": application, "values": shown.values, "problems": shown.problems},
        status=shown.status,
    )


@router.get("/toepassingen/{application_id}")
def application(application_id: ApplicationId, request: Request, operator: OperatorDep) -> Response:
    """One application, to change or withdraw."""
    return _application_page(request, operator, application_id)


@router.post("/toepassingen/{application_id}")
def change_application(
    application_id: ApplicationId, request: Request, posted: PostedDep
) -> Response:
    """Change an application's name, vendor, description or website."""
    container = container_of(request)
    values = {name: posted.form.text(name) for name in APPLICATION_FIELDS if name != "id"}
    try:
        with container.unit_of_work() as session:
            changed = container.applications(session).change(
                application_id,
                values["name"],
                values["vendor"],
                values["supports"],
                values["website"],
                actor=posted.operator.actor,
                source=client_ip(request),
            )
    except ApplicationUnknownError:
        raise
    except ZorgidError as error:
        shown = _refused(error, values, request_language(request))
        return _application_page(request, posted.operator, application_id, shown)
    return _redirect(f"/beheer/toepassingen/{_quoted(changed.id)}", "gewijzigd")


@router.post("/toepassingen/{application_id}/intrekken")
def withdraw_application(
    application_id: ApplicationId, request: Request, posted: PostedDep
) -> Response:
    """Take an application off the public list."""
    container = container_of(request)
    with container.unit_of_work() as session:
        container.applications(session).withdraw(
            application_id, actor=posted.operator.actor, source=client_ip(request)
        )
    return _redirect("/beheer/toepassingen", "ingetrokken")


# -- audit trail -----------------------------------------------------------------------------


@router.get("/audit")
def audit(
    request: Request,
    operator: OperatorDep,
    voor: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    onderwerp: Annotated[str, Query(max_length=128, pattern=PRINTABLE)] = "",
) -> Response:
    """The audit trail, newest first, a page at a time; optionally about one subject."""
    container = container_of(request)
    with container.reading() as session:
        events = container.audit(session).recent(
            AUDIT_PAGE + 1, before=voor, subject=onderwerp or None
        )
    more = len(events) > AUDIT_PAGE
    events = events[:AUDIT_PAGE]
    older = None
    if more:
        query = {"voor": str(events[-1].seq)}
        if onderwerp:
            query["onderwerp"] = onderwerp
        older = "/beheer/audit?" + urllib.parse.urlencode(query)
    return _page(
        request,
        operator,
        "backoffice_audit.html",
        {"events": events, "subject": onderwerp, "older": older, "first_page": voor is None},
    )
