"""Who is asking, and whether they may: the one place pages decide on authorisation.

A page that needs a logged-in person or an operator takes :data:`PersonDep` or
:data:`OperatorDep` as a parameter; nothing else reads the portal session cookie for that
purpose. Not logged in answers 401 with a page that says to log in; logged in without the role
answers 403 with a page that says so. ``tests/functional/test_authorisation.py`` holds the matrix
of every back-office route against every kind of visitor.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from zorgid.core.i18n import N_
from zorgid.errors import ZorgidError
from zorgid.identity.models import Role
from zorgid.login.errors import SessionInvalidError
from zorgid.web import cookies
from zorgid.web.errors import CsrfError
from zorgid.web.security import csrf_ok, csrf_token

if TYPE_CHECKING:
    from zorgid.bootstrap import Container
    from zorgid.identity.devices import Profile

MAX_COOKIE = 200  # a session token is 43 characters; anything much longer is not ours


class LoginRequiredError(ZorgidError):
    """The page is for logged-in people, and this browser is not logged in (any more)."""

    code = "login_required"
    message = N_(
        "You need to be logged in to see this page. Go to the start page and log in with the "
        "ZORG-ID app, then open this page again."
    )


class ForbiddenError(ZorgidError):
    """Logged in, but without the role this page needs."""

    code = "forbidden"
    message = N_(
        "You are logged in, but this page is only for the ZORG-ID operator. If you think you "
        "should have access, ask the operator."
    )


@dataclass(frozen=True)
class Visitor:
    """A logged-in person and the session their browser holds (CSRF tokens are bound to it)."""

    profile: Profile
    session_token: str
    #: When they logged in (QR and PIN) for this session.
    logged_in_at: dt.datetime

    @property
    def person_id(self) -> str:
        """The person's id."""
        return self.profile.person_id

    @property
    def actor(self) -> str:
        """How the audit log names them."""
        return f"person:{self.profile.person_id}"

    @property
    def is_operator(self) -> bool:
        """Whether they hold the operator role (for the service, not an organisation)."""
        return any(m.role is Role.OPERATOR for m in self.profile.memberships)

    def csrf(self, secret: bytes) -> str:
        """The CSRF token for this person's forms."""
        return csrf_token(secret, self.session_token)

    def check_csrf(self, secret: bytes, token: str | None) -> None:
        """Refuse a form that did not come from a page of this session."""
        if not csrf_ok(secret, self.session_token, token):
            raise CsrfError

    def login_is_fresh(self, now: dt.datetime, minutes: int) -> bool:
        """Whether they logged in at most ``minutes`` ago (0: any login will do)."""
        return not minutes or now - self.logged_in_at <= dt.timedelta(minutes=minutes)


def container_of(request: Request) -> Container:
    """The app's composition root."""
    container: Container = request.app.state.container
    return container


async def visitor(request: Request) -> Visitor | None:
    """The logged-in person of this browser, or None."""
    container = container_of(request)
    token = request.cookies.get(cookies.session(container.settings).name, "")
    if not token or len(token) > MAX_COOKIE:
        return None
    try:
        visit = await container.logins.portal_visit(token)
    except SessionInvalidError:
        return None
    return Visitor(profile=visit.profile, session_token=token, logged_in_at=visit.logged_in_at)


async def require_person(request: Request) -> Visitor:
    """The logged-in person, or :class:`LoginRequiredError`."""
    found = await visitor(request)
    if found is None:
        raise LoginRequiredError
    return found


async def require_operator(request: Request) -> Visitor:
    """The logged-in operator, or :class:`LoginRequiredError` / :class:`ForbiddenError`."""
    found = await require_person(request)
    if not found.is_operator:
        raise ForbiddenError(f"person {found.person_id} is not an operator")
    return found


PersonDep = Annotated[Visitor, Depends(require_person)]
OperatorDep = Annotated[Visitor, Depends(require_operator)]
