"""Fixtures for command tests: a test PKI on disk, as `zorgid pki init-test` writes it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner, Result

from tests.support.orgdoc import NOW
from zorgid.cli.main import cli
from zorgid.pki.testpki import TestPki, write_test_pki

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True)
class PkiDir:
    root: Path
    pki: TestPki

    @property
    def anchor(self) -> Path:
        return self.root / "ca" / "server-ca.pem"

    @property
    def crl(self) -> Path:
        return self.root / "crl" / "server-ca.crl"

    def org(self, ura: str = "90000123") -> Path:
        return self.root / "organisations" / ura


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> PkiDir:
    root = tmp_path_factory.mktemp("pki")
    pki = TestPki(now=NOW)
    write_test_pki(root, pki)
    return PkiDir(root, pki)


class Zorgid:
    """Runs `zorgid ...` in-process, as a script would, and keeps what it printed."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str | Path, input: str | None = None) -> Result:  # noqa: A002
        return self.runner.invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)

    def json(self, *args: str | Path) -> tuple[int, dict[str, Any]]:
        result = self(*args, "--json")
        return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def zorgid() -> Zorgid:
    return Zorgid()
