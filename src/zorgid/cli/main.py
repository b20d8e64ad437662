"""The ``zorgid`` command."""

from __future__ import annotations

import logging
import os
import sys

import click

from zorgid import __version__
from zorgid.cli.demo import demo
from zorgid.cli.output import EXIT_USAGE, out_for
from zorgid.cli.pki import pki
from zorgid.cli.validatietool import validatietool
from zorgid.core.i18n import N_


@click.group()
@click.version_option(__version__, prog_name="zorgid")
def cli() -> None:
    """ZORG-ID Mobiel: registratie en identiteit in de zorg / registration and identity."""


cli.add_command(validatietool)
cli.add_command(pki)
cli.add_command(demo)


def main() -> None:
    """Run the CLI; a defect becomes a short message and exit code 2, never a traceback."""
    logging.basicConfig(level=logging.DEBUG if os.environ.get("ZORGID_DEBUG") else logging.WARNING)
    try:
        cli.main(standalone_mode=True)
    except SystemExit:
        raise
    except Exception:
        logging.getLogger("zorgid").debug("unexpected error", exc_info=True)
        out = out_for(None)
        click.echo(
            out._(
                N_(
                    "Internal error [internal_error]: zorgid could not finish. Run again with "
                    "ZORGID_DEBUG=1 for details, and please report it."
                )
            ),
            err=True,
        )
        sys.exit(EXIT_USAGE)
