"""The public pages of a registration (flow 1b): the form, the request's page, the details form.

Nobody is logged in here. The application form's CSRF token is bound to a random cookie of the
browser; the pages behind an e-mailed link bind theirs to the link's token, which only the
recipient knows. Everything that changes state is a POST: a mail scanner that opens links does
not confirm an address or withdraw a request.
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, RedirectResponse, Response

from zorgid.core.i18n import N_, translate
from zorgid.core.tokens import new_token
from zorgid.errors import ZorgidError
from zorgid.orgdoc.document import MAX_DOCUMENT_BYTES
from zorgid.registration.errors import FormInvalidError, MailLimitError, ProofOfWorkError
from zorgid.registration.views import AdminDetails, ApplicationForm
from zorgid.web import cookies
from zorgid.web.auth import container_of
from zorgid.web.client import client_ip
from zorgid.web.errors import CsrfError, TooLargeError
from zorgid.web.forms import Form, Shown, problem_texts, read_form
from zorgid.web.language import request_language
from zorgid.web.pages import render
from zorgid.web.security import csrf_ok, csrf_token

if TYPE_CHECKING:
    from zorgid.registration.views import IntakeResult

router = APIRouter()

MAX_COOKIE = 100
Token = Annotated[str, Path(max_length=200)]
FORM_FIELDS = (
    "ura",
    "organisation_name",
    "technical_name",
    "technical_email",
    "admin_name",
    "admin_email",
)
DETAIL_FIELDS = ("full_name", "birth_date", "phone")
#: Where the form's proof-of-work widget fetches its challenge.
CHALLENGE_PATH = "/aanvraag-controle"
#: The widget's texts, in the page's language (the keys are the widget's own).
WIDGET_TEXTS = {
    "label": N_("I am a person (check)"),
    "verify": N_("Check"),
    "verifying": N_("Checking, please wait..."),
    "waitAlert": N_("Checking, please wait..."),
    "verified": N_("Checked: you can send the form"),
    "verificationRequired": N_(
        "Your browser has to do the check first: tick the box, or press the button again."
    ),
    "expired": N_("The check has expired. Tick the box to check again."),
    "error": N_("The check did not work. Tick the box to try again, or reload the page."),
    "loading": N_("Loading..."),
    "reload": N_("Try again"),
}
#: What ``?gedaan=`` may say on a request's page; anything else is ignored.
DONE = {
    "document": N_(
        "Your signed document has been accepted. The portal administrator will now receive an "
        "e-mail asking for their details."
    ),
    "ingetrokken": N_("Your request has been withdrawn. Nothing more will happen with it."),
}
MISSING_FILE = N_(
    "Choose the signed organisation document (the .xml file the validation tool wrote) before "
    "you press Upload."
)
FILE_TOO_LARGE = N_(
    "The file is larger than 256 KiB. A signed organisation document is much smaller: choose "
    "the signed .xml file the validation tool wrote."
)


async def posted_form(request: Request) -> Form:
    """The posted form (text fields only, at most 64 KiB)."""
    return await read_form(request)


FormDep = Annotated[Form, Depends(posted_form)]


def _quoted(token: str) -> str:
    return urllib.parse.quote(token, safe="")


def _binding(kind: str, value: str) -> str:
    # Each kind of page has its own tokens: one page's token does not work on another.
    return f"{kind}\0{value}"


# -- the application form (step 2) -----------------------------------------------------------


def _form_page(request: Request, csrf: str, shown: Shown | None = None) -> Response:
    shown = shown or Shown()
    container = container_of(request)
    with container.reading() as session:
        applications = container.applications(session).listed()
    return render(
        request,
        "registration_form.html",
        {
            "applications": applications,
            "values": shown.values,
            "chosen": shown.chosen,
            "problems": shown.problems,
            "csrf": csrf,
            "altcha_strings": {
                key: translate(text, request_language(request))
                for key, text in WIDGET_TEXTS.items()
            },
        },
        status=shown.status,
    )


@router.get(CHALLENGE_PATH)
def challenge(request: Request) -> Response:
    """A new proof-of-work challenge for the application form (ALTCHA, JSON)."""
    return JSONResponse(container_of(request).proof_of_work.challenge())


@router.get("/aanvraag")
def application_form(request: Request) -> Response:
    """The application form the technical administrator fills in."""
    container = container_of(request)
    cookie = request.cookies.get(cookies.FORM, "")
    fresh = not cookie or len(cookie) > MAX_COOKIE
    if fresh:
        cookie = new_token()
    response = _form_page(request, csrf_token(container.keys.secret, _binding("form", cookie)))
    if fresh:
        cookies.form(container.settings).set(response, cookie, max_age=24 * 3600)
    return response


@router.post("/aanvraag")
def submit(request: Request, form: FormDep) -> Response:
    """Register the request; the technical administrator gets the e-mail with the document."""
    container = container_of(request)
    cookie = request.cookies.get(cookies.FORM, "")[:MAX_COOKIE]
    csrf = form.text("csrf")
    if not csrf_ok(container.keys.secret, _binding("form", cookie) if cookie else None, csrf):
        raise CsrfError
    values = {name: form.text(name, 400) for name in FORM_FIELDS}
    chosen = tuple(form.texts("applications", most=60, limit=100))
    lang = request_language(request)
    try:
        # A solved challenge buys one try: its use is committed before the form is judged.
        solved = container.proof_of_work.check(form.text("altcha", 8000))
        with container.unit_of_work() as session:
            container.proof_of_work.redeem(solved, session)
    except ProofOfWorkError as error:
        # Most often a browser that has not finished yet: the form again, not an error page.
        shown = Shown(values, {"altcha": error.public_message(lang)}, 200, chosen)
        return _form_page(request, csrf, shown)
    try:
        with container.unit_of_work() as session:
            submitted = container.registration(session).submit(
                ApplicationForm(applications=chosen, **values),
                language=lang,
                source=client_ip(request),
            )
    except FormInvalidError as error:
        problems = problem_texts(error.problems, lang)
        return _form_page(request, csrf, Shown(values, problems, 400, chosen))
    except MailLimitError as error:
        limited = Shown(values, {"form": error.public_message(lang)}, 429, chosen)
        return _form_page(request, csrf, limited)
    response = render(request, "registration_submitted.html", {"submitted": submitted})
    # A new form gets a new cookie: pressing reload here cannot send the request twice.
    cookies.form(container.settings).delete(response)
    return response


# -- the request's page (step 3): upload the signed document, or withdraw --------------------


def _request_page(
    request: Request, token: str, *, error: str | None = None, code: str = "", status: int = 200
) -> Response:
    container = container_of(request)
    with container.reading() as session:
        public = container.registration(session).public_request(token)
    return render(
        request,
        "registration_request.html",
        {
            "r": public,
            "token": token,
            "csrf": csrf_token(container.keys.secret, _binding("request", token)),
            "error": error,
            "code": code,
            "done": DONE.get(request.query_params.get("gedaan", "")),
            "upload_limit_kib": MAX_DOCUMENT_BYTES // 1024,
        },
        status=status,
    )


@router.get("/aanvraag/{token}")
def request_page(token: Token, request: Request) -> Response:
    """The page behind the link in the request e-mail."""
    return _request_page(request, token)


@router.post("/aanvraag/{token}/document")
async def upload(token: Token, request: Request) -> Response:
    """The signed organisation document, uploaded instead of mailed."""
    container = container_of(request)
    lang = request_language(request)
    try:
        form = await read_form(request)
    except TooLargeError as too_large:
        try:
            return await run_in_threadpool(
                _request_page,
                request,
                token,
                error=translate(FILE_TOO_LARGE, lang),
                code=TooLargeError.code,
                status=413,
            )
        except ZorgidError:  # no such request to show the message on: the 413 itself
            raise too_large from None
    if not csrf_ok(container.keys.secret, _binding("request", token), form.text("csrf")):
        raise CsrfError
    data = form.file("document")
    if not data:
        return await run_in_threadpool(
            _request_page, request, token, error=translate(MISSING_FILE, lang), status=400
        )
    source = client_ip(request)

    def intake() -> IntakeResult:
        with container.unit_of_work() as session:
            return container.registration(session).upload(token, data, source=source)

    result = await run_in_threadpool(intake)
    if result.accepted or result.error is None:
        return RedirectResponse(f"/aanvraag/{_quoted(token)}?gedaan=document", status_code=303)
    return await run_in_threadpool(
        _request_page,
        request,
        token,
        error=result.error.public_message(lang),
        code=result.error.code,
        status=422,
    )


@router.get("/aanvraag/{token}/intrekken")
def withdraw_page(token: Token, request: Request) -> Response:
    """Asks whether the request should really be withdrawn."""
    container = container_of(request)
    with container.reading() as session:
        public = container.registration(session).public_request(token)
    return render(
        request,
        "registration_withdraw.html",
        {
            "r": public,
            "token": token,
            "csrf": csrf_token(container.keys.secret, _binding("request", token)),
        },
    )


@router.post("/aanvraag/{token}/intrekken")
def withdraw(token: Token, request: Request, form: FormDep) -> Response:
    """Withdraw the request."""
    container = container_of(request)
    if not csrf_ok(container.keys.secret, _binding("request", token), form.text("csrf")):
        raise CsrfError
    with container.unit_of_work() as session:
        container.registration(session).withdraw(token, source=client_ip(request))
    return RedirectResponse(f"/aanvraag/{_quoted(token)}?gedaan=ingetrokken", status_code=303)


# -- the portal administrator's details (step 4) ---------------------------------------------


def _details_page(request: Request, token: str, shown: Shown | None = None) -> Response:
    shown = shown or Shown()
    container = container_of(request)
    with container.reading() as session:
        page = container.registration(session).details_page(token)
    context: dict[str, Any] = {
        "p": page,
        "token": token,
        "csrf": csrf_token(container.keys.secret, _binding("details", token)),
        "values": shown.values,
        "problems": shown.problems,
    }
    return render(request, "registration_details.html", context, status=shown.status)


@router.get("/gegevens/{token}")
def details_page(token: Token, request: Request) -> Response:
    """The page behind the link in the portal administrator's e-mail."""
    return _details_page(request, token)


@router.post("/gegevens/{token}/bevestigen")
def confirm_email(token: Token, request: Request, form: FormDep) -> Response:
    """The administrator confirms that the e-mail address is theirs."""
    container = container_of(request)
    if not csrf_ok(container.keys.secret, _binding("details", token), form.text("csrf")):
        raise CsrfError
    with container.unit_of_work() as session:
        container.registration(session).confirm_email(token, source=client_ip(request))
    return RedirectResponse(f"/gegevens/{_quoted(token)}", status_code=303)


@router.post("/gegevens/{token}")
def give_details(token: Token, request: Request, form: FormDep) -> Response:
    """The administrator's full name, date of birth and phone number."""
    container = container_of(request)
    if not csrf_ok(container.keys.secret, _binding("details", token), form.text("csrf")):
        raise CsrfError
    values = {name: form.text(name, 400) for name in DETAIL_FIELDS}
    try:
        with container.unit_of_work() as session:
            container.registration(session).give_details(
                token, AdminDetails(**values), source=client_ip(request)
            )
    except FormInvalidError as error:
        problems = problem_texts(error.problems, request_language(request))
        return _details_page(request, token, Shown(values, problems, 400))
    return RedirectResponse(f"/gegevens/{_quoted(token)}", status_code=303)
