"""Fixtures for the reference app: the real service on loopback, a home, QR images, the CLI.

The app talks to the real service (``live``, tests/support/server.py) on SQLite: these tests are
about the app, and the service's own tests run it on PostgreSQL as well. A person at a browser
opens the portal (:class:`Portal`) and types the code the app shows.
"""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
import segno
import structlog
from click.testing import CliRunner, Result
from sqlalchemy import select

from tests.support.server import Browser, Live, LoginPage, read_login_page
from zorgid.audit.models import AuditEvent
from zorgid.cli import app as cli_app
from zorgid.cli.main import cli
from zorgid.mobileapp.client import AppClient

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    import httpx
    from cryptography.hazmat.primitives.asymmetric import ec

    from zorgid.mobileapp.models import LoginRequest

PIN = "13579"
WRONG_PIN = "24680"


@pytest.fixture(params=["sqlite"])
def database_url(database_url: str) -> str:
    """The service's database: SQLite only here (the service's tests cover PostgreSQL)."""
    return database_url


@pytest.fixture(autouse=True)
def service_log_apart() -> Iterator[None]:
    """The service, a thread of this process, logs to stderr, never into a command's output.

    structlog's default logger prints to whatever ``sys.stdout`` is at the time, which is the
    captured output of the command while CliRunner runs it.
    """
    previous = structlog.get_config()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    yield
    structlog.configure(**previous)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def qr_png(text: str, *, scale: int = 4) -> bytes:
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def actions(live: Live) -> list[str]:
    """The service's audit log, oldest first: what it heard of."""
    with live.container.unit_of_work() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


@dataclass
class Portal:
    """A browser on the portal's login page: it shows the QR and takes the app's code."""

    browser: Browser
    page: LoginPage
    #: The codes typed, with the service's answers.
    typed: list[tuple[str, httpx.Response]] = field(default_factory=list)

    @property
    def qr(self) -> str:
        return self.page.qr_text

    def type_code(self, code: str) -> httpx.Response:
        response = self.browser.post(
            f"/login/{self.page.login_id}/code",
            data={"code": code, "csrf": self.page.csrf},
            headers={"accept": "application/json"},
        )
        self.typed.append((code, response))
        return response

    def state(self) -> str:
        state: str = self.browser.get(f"/login/{self.page.login_id}/status").json()["state"]
        return state


def open_portal(live: Live, *, user_agent: bytes | None = None) -> Portal:
    browser = Browser(live.url)
    headers = {"user-agent": user_agent} if user_agent is not None else {}
    return Portal(browser, read_login_page(browser.get("/", headers=headers).text))


@pytest.fixture
def portal(live: Live) -> Iterator[Portal]:
    opened = open_portal(live)
    yield opened
    opened.browser.client.close()


def other_code(code: str) -> str:
    """A code that is not ``code``."""
    return f"{(int(code) + 1) % 10**6:06d}"


class ShowingClient(AppClient):
    """The real app API client; the code a scan returns also reaches the person's eyes.

    The CLI prints the code and then waits for the browser; run in-process, a test cannot read
    the printed line while the command runs, so the person reads the code here instead.
    """

    def __init__(self, base_url: str, *, shown: Callable[[str], object], **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self._shown = shown

    def scan_login(
        self, login_id: str, *, nonce: str, device_id: str, key: ec.EllipticCurvePrivateKey
    ) -> LoginRequest:
        request = super().scan_login(login_id, nonce=nonce, device_id=device_id, key=key)
        self._shown(request.code)
        return request


class App:
    """Runs ``zorgid app --home HOME ...`` in-process and keeps what it printed.

    ``on_code`` is the person: what they do in the browser once the app shows a code.
    ``client`` makes the command's app API client (a test may swap in a broken service).
    """

    def __init__(self, home: Path) -> None:
        self.home = home
        # No English locale leaking in from the environment: Dutch is the default.
        self.runner = CliRunner(
            env={"LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": "C"}
        )
        self.on_code: Callable[[str], object] = lambda _code: None
        self.client: Callable[..., AppClient] = lambda url, **kwargs: ShowingClient(
            url, shown=self.on_code, **kwargs
        )

    def __call__(self, *args: str | Path, input: str | None = None) -> Result:  # noqa: A002
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(cli_app, "AppClient", self.client)
            result = self.runner.invoke(
                cli, ["app", "--home", str(self.home), *map(str, args)], input=input
            )
        assert "Traceback" not in result.output
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    def json(self, *args: str) -> tuple[int, dict[str, Any]]:
        result = self(*args, "--json")
        return result.exit_code, json.loads(result.stdout)

    def activate(self, qr_text: str, pin: str = PIN) -> Result:
        result = self("activate", qr_text, "--pin-stdin", input=pin + "\n")
        assert result.exit_code == 0, result.output
        return result

    def device_id(self) -> str:
        device_id: str = json.loads((self.home / "device.json").read_text())["device_id"]
        return device_id


@pytest.fixture
def app(home: Path) -> App:
    return App(home)
