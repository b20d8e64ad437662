"""How commands talk to people and machines: translated messages, ``--json``, exit codes.

Exit codes (formats.md): 0 success/valid, 1 invalid/refused, 2 usage or I/O error.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeVar

import click

from zorgid.core.files import write_atomically
from zorgid.core.i18n import N_, SUPPORTED, localise, resolve_language, translate
from zorgid.errors import ZorgidError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2

P = ParamSpec("P")
R = TypeVar("R")


class FileReadError(ZorgidError):
    """A file could not be read."""

    code = "file_error"
    message = N_("The file {path} could not be read: {reason}. Check the name and the location.")
    exit_code = EXIT_USAGE


class FileWriteError(FileReadError):
    """A file could not be written."""

    message = N_("The file {path} could not be written: {reason}.")


@dataclass(frozen=True)
class Out:
    """Where one command writes: its language and whether it speaks JSON."""

    lang: str
    json: bool = False

    def _(self, msgid: str, **params: object) -> str:
        """Translate ``msgid`` into this command's language and fill in ``params``."""
        return translate(msgid, self.lang).format(**params)

    def say(self, msgid: str, **params: object) -> None:
        """Tell the person something (standard output; silent in JSON mode)."""
        if not self.json:
            click.echo(self._(msgid, **params))

    def warn(self, msgid: str, **params: object) -> None:
        """Warn the person of something that may go wrong later (standard error, also in JSON)."""
        params = {key: localise(value, self.lang) for key, value in params.items()}
        click.echo(self._(N_("Warning")) + ": " + self._(msgid, **params), err=True)

    def emit_json(self, payload: dict[str, Any]) -> None:
        """Print one JSON object on standard output."""
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))

    @contextmanager
    def reporting(self) -> Iterator[None]:
        """Turn a ZorgidError raised inside into a message and exit code, never a traceback."""
        try:
            yield
        except ZorgidError as error:
            self.fail(error)

    def fail(self, error: ZorgidError, *, extra: dict[str, Any] | None = None) -> NoReturn:
        """Report ``error`` and exit with its code."""
        message = error.public_message(self.lang)
        if self.json:
            self.emit_json({**(extra or {}), "code": error.code, "message": message})
        else:
            click.echo(self._(N_("Error")) + f" [{error.code}]: {message}", err=True)
        raise SystemExit(error.exit_code)


def lang_option(function: Callable[P, R]) -> Callable[P, R]:
    """Add ``--lang nl|en`` (default: the locale when it is English, else Dutch)."""
    return click.option(
        "--lang",
        type=click.Choice(SUPPORTED),
        default=None,
        help="Taal van de meldingen / language of messages (nl, en).",
    )(function)


def out_for(lang: str | None, *, as_json: bool = False) -> Out:
    """The Out of a command, from its --lang option and the environment."""
    return Out(resolve_language(lang, os.environ), as_json)


def read_file(path: Path, *, limit: int | None = None) -> bytes:
    """Read a file, turning OS errors into a FileReadError (exit code 2)."""
    try:
        if limit is not None and path.stat().st_size > limit:
            with path.open("rb") as handle:
                return handle.read(limit + 1)
        return path.read_bytes()
    except OSError as exc:
        raise FileReadError(str(exc), path=str(path), reason=exc.strerror or str(exc)) from None


def write_file_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` all at once: a reader sees the old file or the new, never half."""
    try:
        write_atomically(path, data)
    except OSError as exc:
        raise FileWriteError(str(exc), path=str(path), reason=exc.strerror or str(exc)) from None


def stdin_is_terminal() -> bool:
    """Whether a person can be asked questions."""
    return sys.stdin.isatty()
