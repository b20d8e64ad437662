"""The real service on a loopback port, in a thread of the test process, and a test browser.

``live`` starts uvicorn with the app of a container whose public URL is the server's own
address (QR codes must point at it), on the test's database (SQLite and PostgreSQL) and clock.
:class:`Browser` is a minimal browser over httpx: it keeps cookies itself, as Chromium does on
loopback, including ``Secure`` ones (127.0.0.1 counts as a secure origin for browsers; Python's
cookie jar would drop them over plain HTTP).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn

from tests.support.clock import ManualClock
from zorgid.bootstrap import build
from zorgid.cli.service import open_container
from zorgid.settings import Settings
from zorgid.web.app import create_app

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from pathlib import Path

    from fastapi import FastAPI

    from zorgid.bootstrap import Container


@dataclass
class Live:
    """A running service."""

    url: str
    container: Container
    clock: ManualClock
    app: FastAPI | None = None


@dataclass
class Browser:
    """Cookies per path, as a browser keeps them; HTML in, forms out."""

    base: str
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))
    cookies: dict[tuple[str, str], str] = field(default_factory=dict)  # (name, path) -> value
    flags: dict[str, str] = field(default_factory=dict)  # name -> raw Set-Cookie (for asserts)

    def request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        """Send a request with the cookies a browser would send for ``path``."""
        header = "; ".join(
            f"{name}={value}"
            for (name, cookie_path), value in self.cookies.items()
            if path.startswith(cookie_path)
        )
        headers = dict(kwargs.pop("headers", {}) or {})  # type: ignore[call-overload]
        if header:
            headers["cookie"] = header
        response = self.client.request(method, self.base + path, headers=headers, **kwargs)  # type: ignore[arg-type]
        for raw in response.headers.get_list("set-cookie"):
            parsed = SimpleCookie()
            parsed.load(raw)
            for name, morsel in parsed.items():
                key = (name, morsel["path"] or "/")
                self.flags[name] = raw
                if morsel["max-age"] == "0" or morsel.value == "":
                    self.cookies.pop(key, None)
                else:
                    self.cookies[key] = morsel.value
        return response

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        """GET ``path``."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: object) -> httpx.Response:
        """POST ``path``."""
        return self.request("POST", path, **kwargs)


@dataclass(frozen=True)
class LoginPage:
    """What the login page shows."""

    login_id: str
    qr_text: str
    csrf: str


def read_login_page(html: str) -> LoginPage:
    """The login id, the QR text and the CSRF token of a login page."""
    login = re.search(r'data-login="([^"]+)"', html)
    qr = re.search(r'data-qr="([^"]+)"', html)
    csrf = re.search(r'name="csrf" value="([^"]+)"', html)
    assert login, html[:500]
    assert qr
    assert csrf
    return LoginPage(login.group(1), qr.group(1).replace("&amp;", "&"), csrf.group(1))


def csrf_of(html: str) -> str:
    """The CSRF token of the (first) form on a page."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:1000]
    return found.group(1)


def free_port() -> int:
    """A port that was free a moment ago (for a server in another process)."""
    with _free_socket() as probe:
        return int(probe.getsockname()[1])


def wait_until_up(
    process: subprocess.Popen[Any], url: str, output: Callable[[], str], timeout: float = 60
) -> None:
    """Return once ``url`` answers 200; fail with ``output()`` if the process ends or never does."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{url} did not come up:\n{output()}")
        time.sleep(0.1)


def start_serve(
    env: Mapping[str, str], port: int, log: Path | None = None
) -> subprocess.Popen[str]:
    """``zorgid serve`` in its own process on ``port`` (settings from ``env``), once ready.

    Its output goes to ``log`` when given: a pipe nobody reads would stop the server once full.
    """
    with contextlib.ExitStack() as files:
        output = files.enter_context(log.open("w")) if log else subprocess.PIPE
        process = subprocess.Popen(
            [sys.executable, "-m", "zorgid", "serve", "--port", str(port)],
            env={**os.environ, "ZORGID_PUBLIC_URL": f"http://127.0.0.1:{port}", **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def said() -> str:
        return log.read_text() if log else process.communicate()[0]

    wait_until_up(process, f"http://127.0.0.1:{port}/readyz", said)
    return process


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.contextmanager
def serve(container: Container, sock: socket.socket, app: FastAPI | None = None) -> Iterator[None]:
    """Run the app (by default a new one on ``container``) on ``sock`` until the block ends."""
    config = uvicorn.Config(
        app or create_app(container), log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the test server did not start")
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


def start_live(
    tmp_path: Path, database_url: str, clock: ManualClock, **settings: object
) -> Iterator[Live]:
    """A container on the test database with its public URL on a free port, served there."""
    sock = _free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    container = build(
        Settings(data_dir=tmp_path, database_url=database_url, public_url=url, **settings),  # type: ignore[arg-type]
        clock=clock,
        create_keys=True,
    )
    try:
        yield from _served(container, sock, Live(url, container, clock))
    finally:
        container.close()


def _served(container: Container, sock: socket.socket, live: Live) -> Iterator[Live]:
    live.app = create_app(container)
    with serve(container, sock, live.app):
        yield live


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[Live]:
    """The service, running on loopback, on the test's database, its clock starting now.

    The clock starts at the real time because the app signs real timestamps (device status);
    it then stands still until the test advances it (expiry, PIN back-off).
    """
    yield from start_live(tmp_path, database_url, ManualClock(dt.datetime.now(dt.UTC)))


@pytest.fixture
def browser(live: Live) -> Iterator[Browser]:
    """A fresh browser pointed at the live service."""
    b = Browser(live.url)
    try:
        yield b
    finally:
        b.client.close()


@contextlib.contextmanager
def serve_process(data_dir: Path, database_url: str, **env: str) -> Iterator[str]:
    """``zorgid serve`` in its own process on a free port, on ``database_url``: its base URL.

    The keys and the schema are made first (as ``zorgid init`` does); ``env`` adds settings.
    """
    settings = Settings(data_dir=data_dir, database_url=database_url)
    open_container(settings, create_keys=True, migrate=True).close()
    port = free_port()
    process = start_serve(
        {
            "ZORGID_DATA_DIR": str(data_dir),
            "ZORGID_DATABASE_URL": database_url,
            "ZORGID_LOG_LEVEL": "warning",
            **env,
        },
        port,
        data_dir / "serve.log",
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.communicate(timeout=30)
