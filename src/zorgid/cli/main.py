"""The ``zorgid`` command."""

from __future__ import annotations

import logging
import os
import sys
import warnings

import click

from zorgid import __version__
from zorgid.cli.app import app
from zorgid.cli.demo import demo
from zorgid.cli.output import EXIT_USAGE, out_for
from zorgid.cli.operator import operator
from zorgid.cli.pki import pki
from zorgid.cli.service import db, init, serve
from zorgid.cli.validatietool import validatietool
from zorgid.core.i18n import N_
from zorgid.errors import ZorgidError


@click.group()
@click.version_option(__version__, prog_name="zorgid")
def cli() -> None:
    """ZORG-ID Mobiel: registratie en identiteit in de zorg / registration and identity."""


cli.add_command(validatietool)
cli.add_command(pki)
cli.add_command(demo)
cli.add_command(app)
cli.add_command(init)
cli.add_command(db)
cli.add_command(serve)
cli.add_command(operator)


def _option_value(argv: list[str], name: str) -> str | None:
    for index, argument in enumerate(argv):
        if argument == name and index + 1 < len(argv):
            return argv[index + 1]
        if argument.startswith(f"{name}="):
            return argument.split("=", 1)[1]
    return None


def main() -> None:
    """Run the CLI; a defect becomes a short message and exit code 2, never a traceback."""
    debug = bool(os.environ.get("ZORGID_DEBUG"))
    # People using the tool see messages, not log records; ZORGID_DEBUG=1 shows everything.
    logging.basicConfig(level=logging.DEBUG if debug else logging.CRITICAL + 1)
    if not debug:
        # Library warnings about odd certificates are for developers, not for the person.
        warnings.simplefilter("ignore")
    try:
        cli.main(standalone_mode=True)
    except SystemExit:
        raise
    except Exception:
        logging.getLogger("zorgid").debug("unexpected error", exc_info=True)
        argv = sys.argv[1:]
        out = out_for(_option_value(argv, "--lang"), as_json="--json" in argv)
        out.fail(InternalError())


class InternalError(ZorgidError):
    """A defect in zorgid: reported as such, with a way to learn more."""

    code = "internal_error"
    message = N_(
        "zorgid could not finish because of an internal error. Run again with ZORGID_DEBUG=1 "
        "for details, and please report it."
    )
    exit_code = EXIT_USAGE
