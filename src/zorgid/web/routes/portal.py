"""The portal's pages: QR login for a browser that is not logged in, and the home page after."""

from __future__ import annotations

import functools
import json
import re
import time
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, RedirectResponse, Response

from zorgid.core.i18n import N_
from zorgid.errors import ZorgidError
from zorgid.identity.models import Role
from zorgid.login.errors import SessionInvalidError
from zorgid.registration.service import AWAITS_FIRST_LOGIN
from zorgid.web import cookies
from zorgid.web.auth import container_of, require_person
from zorgid.web.client import client_ip, user_agent
from zorgid.web.errors import CsrfError, InvalidRequestError, error_response, wants_json
from zorgid.web.fastpath import MAX_FIELD, form_fields, route
from zorgid.web.fastpath import login_id as fast_login_id
from zorgid.web.forms import read_form
from zorgid.web.language import request_language
from zorgid.web.pages import render
from zorgid.web.security import csrf_ok, csrf_token
from zorgid.web.streams import ClientWatch, EventStream

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Mapping

    from starlette.types import Receive

    from zorgid.bootstrap import Container
    from zorgid.identity.devices import Profile
    from zorgid.login.events import Subscription
    from zorgid.registration.views import RequestSummary

router = APIRouter()

Id = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{22}$")]
STREAM_SECONDS = 300.0
ROLE_NAMES = {
    "operator": N_("Operator"),
    "administrator": N_("Portal administrator"),
    "beheerder": N_("Portal beheerder"),
    "gebruiker": N_("Healthcare worker"),
}


#: Pages a new login may return to: the back office's, by their path alone.
_BACK = re.compile(r"/beheer(?:/[A-Za-z0-9._~%-]{1,120}){0,3}")
#: What a page's form had, carried over a new login as ``bewaard-<field>`` (kept.js).
KEPT_PREFIX = "bewaard-"
_KEPT_NAME = re.compile(r"[a-z_]{1,30}")
KEPT_FIELDS = 12
KEPT_LENGTH = 5000


def _login_path(login_id: str) -> str:
    return f"/login/{login_id}"


@route("/", methods=["GET", "HEAD"])
async def home(request: Request) -> Response:
    """The person's portal when logged in; otherwise a new QR login."""
    container = container_of(request)
    session = cookies.session(container.settings)
    token = request.cookies.get(session.name)
    if token:
        try:
            person = await container.logins.portal_person(token)
        except SessionInvalidError:
            pass
        else:
            # Only an administrator has registrations (their approval made the membership).
            registrations = (
                await run_in_threadpool(_registrations_of, container, person)
                if any(m.role is Role.ADMINISTRATOR for m in person.memberships)
                else []
            )
            return render(
                request, "home.html", _home_context(container, person, token, registrations)
            )
    if request.method == "HEAD":
        # The headers of the login page, without starting a login nobody can see.
        return Response(media_type="text/html; charset=utf-8")
    response = await _new_login(request, container)
    if token:
        session.delete(response)  # it no longer works: the browser forgets it
    return response


async def _new_login(
    request: Request,
    container: Container,
    *,
    back: str | None = None,
    kept: Mapping[str, str] | None = None,
) -> Response:
    """A new QR login and its page; ``back`` is where it returns to, with ``kept`` for its form."""
    started = await container.logins.start(
        client_ip=client_ip(request), user_agent=user_agent(request)
    )
    response = render(
        request,
        "login.html",
        {
            "login_id": started.login_id,
            "qr_text": started.qr_text,
            "csrf": csrf_token(container.keys.secret, started.browser_secret),
            "expires_in": container.settings.login_ttl_seconds,
            "back": back,
            "kept": kept or {},
        },
    )
    cookies.login(container.settings, started.login_id).set(
        response, started.browser_secret, max_age=container.settings.login_ttl_seconds + 60
    )
    return response


def back_path(value: str) -> str | None:
    """``value`` when it is a back-office page a new login may return to, else None."""
    # At most what the login's completion reads of a field (fastpath.MAX_FIELD).
    return value if len(value) <= MAX_FIELD and _BACK.fullmatch(value) else None


@router.post("/opnieuw-inloggen")
async def log_in_again(request: Request) -> Response:
    """A new QR login for a logged-in person whose decision needs a recent login.

    It returns to the page the decision was made on (``terug``), where login.js and kept.js
    put back what was typed (``bewaard-<field>``; nothing of it is stored by the service). The
    body is read first, as on every route: one over its limit is a 413 for anyone.
    """
    container = container_of(request)
    form = await read_form(request)
    person = await require_person(request)
    person.check_csrf(container.keys.secret, form.text("csrf"))
    back = back_path(form.text("terug", 300))
    if back is None:
        raise InvalidRequestError("bad return page", reason="terug")
    kept = {
        name.removeprefix(KEPT_PREFIX): values[0][:KEPT_LENGTH]
        for name, values in list(form.fields.items())[:KEPT_FIELDS]
        if name.startswith(KEPT_PREFIX) and _KEPT_NAME.fullmatch(name.removeprefix(KEPT_PREFIX))
    }
    return await _new_login(request, container, back=back, kept=kept)


def _registrations_of(container: Container, person: Profile) -> list[RequestSummary]:
    with container.reading() as session:
        return container.registration(session).of_administrator(person.person_id)


def _home_context(
    container: Container, person: Profile, token: str, registrations: list[RequestSummary]
) -> dict[str, object]:
    return {
        "person": person,
        "registrations": registrations,
        "operator": any(m.role is Role.OPERATOR for m in person.memberships),
        "memberships": [
            {"role": ROLE_NAMES[m.role.value], "organisation": m.organisation, "ura": m.ura}
            for m in person.memberships
        ],
        "csrf": csrf_token(container.keys.secret, token),
    }


@route("/login/{login_id}/status", methods=["GET"])
async def status(request: Request) -> Response:
    """The login's state as JSON (the polling fallback of the event stream)."""
    container, login_id = container_of(request), fast_login_id(request)
    secret = request.cookies.get(cookies.LOGIN, "")
    state = await container.logins.browser_state(login_id, secret)
    return JSONResponse({"state": str(state)})


@route("/login/{login_id}/events", methods=["GET"], held=True)
async def events(request: Request) -> Response:
    """Server-sent events: one ``state`` event per change, until the login ends."""
    container, login_id = container_of(request), fast_login_id(request)
    secret = request.cookies.get(cookies.LOGIN, "")
    # Subscribe first, then read: a change committed in between still wakes the stream. The
    # read also refuses an unknown login or another browser (404) before anything is streamed.
    subscribed = container.events.subscribe(login_id)
    subscription = subscribed.__enter__()
    try:
        first = str(await container.logins.browser_state(login_id, secret))
    except BaseException:
        subscribed.__exit__(None, None, None)
        raise
    return EventStream(
        _stream(container, login_id, secret, first, subscription, request.receive),
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        # Unsubscribes in every path, also when the stream never started.
        on_close=functools.partial(subscribed.__exit__, None, None, None),
    )


async def _stream(  # noqa: PLR0913, PLR0917 - what one stream holds, and no more
    container: Container,
    login_id: str,
    secret: str,
    state: str,
    subscription: Subscription,
    receive: Receive,
) -> AsyncGenerator[bytes, None]:
    """The events of one login's stream, from its ``state`` when it opened."""
    deadline = time.monotonic() + STREAM_SECONDS
    last = None
    # A browser that goes away wakes the wait below and ends the stream at once.
    with ClientWatch(receive, subscription.wake) as client:
        yield b"retry: 2000\n\n"
        while True:
            if state != last:
                yield f"event: state\ndata: {json.dumps({'state': state})}\n\n".encode()
                last = state
            if state in {"approved", "completed", "declined", "failed", "expired"}:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            woken = await subscription.wait(min(remaining, 5.0))
            if client.gone:
                return
            # A notification says which state was committed; only a timeout (a lost
            # notification, another node's listener reconnecting) costs a database read.
            if woken and subscription.state:
                state = subscription.state
            else:
                state = str(await container.logins.browser_state(login_id, secret))


@router.get("/login/{login_id}")
async def login_page(login_id: Id, request: Request) -> Response:
    """Where a browser without JavaScript lands after typing the code."""
    container = container_of(request)
    secret = request.cookies.get(cookies.LOGIN, "")
    try:
        state = str(await container.logins.browser_state(login_id, secret))
    except ZorgidError:
        return RedirectResponse("/", status_code=303)
    if state == "pending":
        return RedirectResponse("/", status_code=303)
    return render(
        request,
        "login_wait.html",
        {"login_id": login_id, "state": state, "csrf": csrf_token(container.keys.secret, secret)},
    )


@route("/login/{login_id}/code", methods=["POST"])
async def enter_code(request: Request) -> Response:
    """The browser types the code its app shows."""
    container, login_id = container_of(request), fast_login_id(request)
    fields = await form_fields(request, "code", "csrf")
    code, csrf = fields["code"], fields["csrf"]
    secret = request.cookies.get(cookies.LOGIN, "")
    if not csrf_ok(container.keys.secret, secret, csrf):
        raise CsrfError  # not a typing mistake: the error page, not the form again
    try:
        await container.logins.enter_code(login_id, secret, code, source=client_ip(request))
    except ZorgidError as error:
        if wants_json(request):
            return error_response(request, error)
        return render(
            request,
            "login_wait.html",
            {
                "login_id": login_id,
                "state": "scanned",
                "error": error.public_message(request_language(request)),
                "csrf": csrf,
            },
            status=400,
        )
    if wants_json(request):
        return JSONResponse({"state": "confirmed"})
    return RedirectResponse(_login_path(login_id), status_code=303)


@route("/login/{login_id}/complete", methods=["POST"])
async def complete(request: Request) -> Response:
    """An approved login's browser gets a brand-new session cookie."""
    container, login_id = container_of(request), fast_login_id(request)
    fields = await form_fields(request, "csrf", "terug")
    secret = request.cookies.get(cookies.LOGIN, "")
    if not csrf_ok(container.keys.secret, secret, fields["csrf"]):
        raise CsrfError
    source = client_ip(request)
    new, registration_waits = await container.logins.complete(
        login_id, secret, source=source, also=AWAITS_FIRST_LOGIN
    )
    if registration_waits:
        # An administrator's first login completes their organisation's registration (asked
        # in the login's own transaction; a failure here is retried at the next login).
        await run_in_threadpool(_first_login, container, new.person_id, source)
    following = back_path(fields["terug"]) or "/"
    old = request.cookies.get(cookies.session(container.settings).name, "")
    if following != "/" and old:
        # A new login for a decision replaces the browser's session: the old one ends.
        await container.logins.end_portal_session(old, source=source)
    response: Response
    if wants_json(request):
        response = JSONResponse({"state": "completed", "next": following})
    else:
        response = RedirectResponse(following, status_code=303)
    cookies.session(container.settings).set(
        response, new.token, max_age=container.settings.session_ttl_minutes * 60
    )
    cookies.login(container.settings, login_id).delete(response)
    return response


def _first_login(container: Container, person_id: str, source: str) -> None:
    with container.unit_of_work() as session:
        container.registration(session).first_login(person_id, source=source)


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the portal session everywhere."""
    container = container_of(request)
    csrf = (await read_form(request)).text("csrf", MAX_FIELD)
    session = cookies.session(container.settings)
    token = request.cookies.get(session.name, "")
    if not csrf_ok(container.keys.secret, token, csrf):
        raise CsrfError
    await container.logins.end_portal_session(token, source=client_ip(request))
    response = RedirectResponse("/", status_code=303)
    session.delete(response)
    return response


@router.get("/app/login/{login_id}")
@router.get("/app/activeer/{login_id}")
def app_link(login_id: Id, request: Request) -> Response:
    """A QR opened by an ordinary camera app: explain that the ZORG-ID app is needed."""
    del login_id
    return render(request, "app_link.html", {})
