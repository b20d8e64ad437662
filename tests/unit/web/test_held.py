"""The browser's event stream is served beside the app's own stack (zorgid.web.fastpath.Held).

Thousands of streams are open at once, and every layer of the app's stack kept its frame for as
long as each lasted; the stream now passes only the layers that wrap everything (request log,
security headers, body limit), and its refusals are the same coded answers.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httpx

from tests.support.identity import SOURCE
from tests.support.server import _free_socket, serve
from zorgid.web.app import create_app

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from zorgid.bootstrap import Container


class Seen:
    """A middleware of the app's own stack that writes down each request it sees."""

    def __init__(self, app: ASGIApp, *, seen: list[str]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append(f"{scope['method']} {scope['path'].rsplit('/', 1)[-1]}")
        await self.app(scope, receive, send)


def test_the_event_stream_passes_none_of_the_app_s_own_middleware(container: Container) -> None:
    seen: list[str] = []
    app = create_app(container)
    app.add_middleware(Seen, seen=seen)
    started = asyncio.run(container.logins.start(client_ip=SOURCE, user_agent="test"))
    cookie = {"zorgid_login": started.browser_secret}
    sock = _free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with serve(container, sock, app), httpx.Client(base_url=url, cookies=cookie) as client:
        with client.stream("GET", f"/login/{started.login_id}/events") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert stream.headers["x-frame-options"] == "DENY"  # the outer layers still apply
            first = next(stream.iter_lines())
        assert first == "retry: 2000"
        unknown = client.get("/login/AAAAAAAAAAAAAAAAAAAAAA/events")
        status = client.get(f"/login/{started.login_id}/status")
    # Refused by the app's own handler: the same coded answer as through the stack.
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "login_unknown"
    assert unknown.headers["cache-control"] == "no-store"
    assert status.status_code == 200
    assert seen == ["GET status"]


def test_a_defect_in_the_event_stream_is_the_app_s_500_with_every_security_header(
    container: Container,
) -> None:
    started = asyncio.run(container.logins.start(client_ip=SOURCE, user_agent="test"))

    async def broken(login_id: str, browser_secret: str) -> str:
        del login_id, browser_secret
        msg = "a defect the stack would have answered"
        raise RuntimeError(msg)

    container.logins.browser_state = broken  # type: ignore[method-assign]
    app = create_app(container)
    sock = _free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    cookie = {"zorgid_login": started.browser_secret}
    with serve(container, sock, app), httpx.Client(base_url=url, cookies=cookie) as client:
        answer = client.get(
            f"/login/{started.login_id}/events", headers={"accept": "application/json"}
        )
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal_error"
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"
    assert "a defect" not in answer.text
