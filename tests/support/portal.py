"""Logged-in portal sessions for page tests, made through the services as a real login makes them.

:func:`portal_session` registers a person with roles (as the operator's commands do), activates an
app for them, and runs a whole QR login through :class:`~zorgid.login.service.LoginService`
(start, scan, code, PIN, complete). The result is the value of the ``zorgid_session`` cookie a
browser would hold. :func:`served` runs the app on loopback and :func:`browser` opens a browser
on it (tests/support/server.py), logged in or not.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from tests.support.identity import PIN, SOURCE, Activation, App, redeem
from tests.support.identity_flows import add_member
from tests.support.server import Browser, _free_socket, serve

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from zorgid.bootstrap import Container
    from zorgid.identity.models import Role

SESSION_COOKIE = "zorgid_session"


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
    with container.unit_of_work() as session:
        started = container.login(session).start(client_ip=SOURCE, user_agent="pytest")
    login_id = started.login_id
    login_nonce = started.qr_text.split("#", 1)[1]
    with container.unit_of_work() as session:
        scanned = container.login(session).scan(
            login_id,
            nonce=login_nonce,
            device_id=device.id,
            signature=app.sign("zorgid-login-scan-v1", login_id, login_nonce, device.id),
        )
    with container.unit_of_work() as session:
        container.login(session).enter_code(
            login_id, started.browser_secret, scanned.code, source=SOURCE
        )
    with container.reading() as session:
        _, challenge = container.login(session).app_state(
            login_id, nonce=login_nonce, device_id=device.id
        )
    assert challenge is not None
    with container.unit_of_work() as session:
        container.login(session).answer(
            login_id,
            device_id=device.id,
            decision="approve",
            pin=PIN,
            signature=app.sign("zorgid-login-v1", login_id, challenge, "approve"),
            source=SOURCE,
        )
    with container.unit_of_work() as session:
        return (
            container.login(session).complete(login_id, started.browser_secret, source=SOURCE).token
        )


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
