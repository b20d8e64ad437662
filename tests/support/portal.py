"""Logged-in portal sessions for page tests, made through the services as a real login makes them.

:func:`portal_session` registers a person with roles (as the operator's commands do), activates an
app for them, and runs a whole QR login through :class:`~zorgid.login.service.LoginService`
(start, scan, code, PIN, complete). The result is the value of the session cookie a
browser would hold. :func:`served` runs the app on loopback and :func:`browser` opens a browser
on it (tests/support/server.py), logged in or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import TYPE_CHECKING

from tests.support.identity import PIN, SOURCE, Activation, App, redeem
from tests.support.identity_flows import add_member
from tests.support.server import Browser, _free_socket, serve, serve_process
from zorgid.cli.service import open_container
from zorgid.identity.models import Role
from zorgid.settings import Settings
from zorgid.web.cookies import SESSION

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

    from zorgid.bootstrap import Container
    from zorgid.identity.devices import Profile

SESSION_COOKIE = SESSION


def portal_session(
    container: Container,
    *,
    email: str,
    roles: Iterable[tuple[Role, tuple[str, str] | None]],
    name: str = "Test Person",
) -> str:
    """A new person with ``roles`` and an active phone, logged in: the session cookie's value."""
    issued = add_member(container, name=name, email=email, roles=roles)
    _, nonce = issued.qr_text.split("#", 1)
    app = App()
    device = redeem(container, Activation(issued.activation_id, nonce, ""), app=app)
    confirmed = confirmed_login(container, device_id=device.id, app=app)
    confirmed.answer(container, device_id=device.id)
    new, _ = asyncio.run(
        container.logins.complete(confirmed.login_id, confirmed.browser_secret, source=SOURCE)
    )
    return new.token


@dataclasses.dataclass(frozen=True)
class ConfirmedLogin:
    """A login whose browser typed the app's code: the app may now answer."""

    login_id: str
    browser_secret: str
    challenge: str
    app: App

    def approval(self) -> str:
        """The app's signature over an approval of this login."""
        return self.app.sign("zorgid-login-v1", self.login_id, self.challenge, "approve")

    def answer(self, container: Container, *, device_id: str, pin: str = PIN) -> Profile | None:
        """The app approves with ``pin`` (through the login path, as the app API does)."""
        return asyncio.run(
            container.logins.answer(
                self.login_id,
                device_id=device_id,
                decision="approve",
                pin=pin,
                signature=self.approval(),
                source=SOURCE,
            )
        )


def confirmed_login(container: Container, *, device_id: str, app: App) -> ConfirmedLogin:
    """Start a login, scan it with ``app`` and type its code, as browser and app do."""
    logins = container.logins
    started = asyncio.run(logins.start(client_ip=SOURCE, user_agent="pytest"))
    login_id = started.login_id
    nonce = started.qr_text.split("#", 1)[1]
    scanned = asyncio.run(
        logins.scan(
            login_id,
            nonce=nonce,
            device_id=device_id,
            signature=app.sign("zorgid-login-scan-v1", login_id, nonce, device_id),
        )
    )
    asyncio.run(logins.enter_code(login_id, started.browser_secret, scanned.code, source=SOURCE))
    challenge = asyncio.run(logins.app_state(login_id, nonce=nonce, device_id=device_id)).challenge
    assert challenge is not None
    return ConfirmedLogin(login_id, started.browser_secret, challenge, app)


@contextlib.contextmanager
def served(container: Container) -> Iterator[str]:
    """The app of ``container`` on a loopback port (uvicorn, as in production); its base URL."""
    sock = _free_socket()
    with serve(container, sock):
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def browser(url: str, session_token: str | None = None) -> Browser:
    """A fresh browser, logged in when given a session token."""
    opened = Browser(url)
    if session_token:
        opened.cookies[(SESSION_COOKIE, "/")] = session_token
    return opened


@dataclasses.dataclass(frozen=True)
class OperatorSite:
    """``zorgid serve`` in its own process, with an operator's session and the CSRF key."""

    url: str
    secret: bytes
    session: str


@contextlib.contextmanager
def operator_site(data: Path) -> Iterator[OperatorSite]:
    """``zorgid serve`` on SQLite in ``data`` without a rate limit, an operator logged in.

    For the fuzzers: thousands of requests from one address would otherwise mostly get 429.
    """
    url = f"sqlite:///{data / 'zorgid.sqlite3'}"
    container = open_container(
        Settings(data_dir=data, database_url=url), create_keys=True, migrate=True
    )
    try:
        session = portal_session(
            container, email="olga@zorgid.example", roles=[(Role.OPERATOR, None)]
        )
        secret = container.keys.secret
    finally:
        container.close()
    with serve_process(data, url, ZORGID_RATE_LIMIT_PER_MINUTE="0") as served:
        yield OperatorSite(served, secret, session)
