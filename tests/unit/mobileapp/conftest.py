"""Fixtures for the reference app: a fake service on loopback, a home, QR images."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

import pytest
import segno
from click.testing import CliRunner, Result

from tests.unit.mobileapp.fake_service import FakeService, serve
from zorgid.cli.main import cli

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def service() -> Iterator[FakeService]:
    fake = FakeService()
    server, thread = serve(fake)
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def qr_png(text: str, *, scale: int = 4) -> bytes:
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


class App:
    """Runs `zorgid app --home HOME ...` in-process and keeps what it printed."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.runner = CliRunner()

    def __call__(self, *args: str | Path, input: str | None = None) -> Result:  # noqa: A002
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

    def activate(self, service: FakeService, pin: str = "13579") -> Result:
        result = self("activate", service.new_activation(), "--pin-stdin", input=pin + "\n")
        assert result.exit_code == 0, result.output
        return result


@pytest.fixture
def app(home: Path) -> App:
    return App(home)
