"""The ``zorgid`` command."""

from __future__ import annotations

import importlib
import logging
import os
import sys
import warnings

import click

from zorgid import __version__
from zorgid.cli.output import EXIT_USAGE, out_for
from zorgid.core.i18n import N_
from zorgid.errors import ZorgidError

#: Command groups are imported when used: the app and the validation tool start quickly
#: without loading the web server, the ORM and the migrations they do not need.
COMMANDS = {
    "validatietool": "zorgid.cli.validatietool:validatietool",
    "pki": "zorgid.cli.pki:pki",
    "app": "zorgid.cli.app:app",
    "demo": "zorgid.cli.demo:demo",
    "init": "zorgid.cli.service:init",
    "db": "zorgid.cli.service:db",
    "serve": "zorgid.cli.service:serve",
    "operator": "zorgid.cli.operator:operator",
    "audit": "zorgid.cli.audit:audit",
}


class LazyGroup(click.Group):
    """A group whose subcommands are loaded on first use (click's documented lazy pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, without importing any of them."""
        del ctx
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import the command's module only now."""
        del ctx
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, name = target.split(":")
        command: click.Command = getattr(importlib.import_module(module), name)
        return command


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="zorgid")
def cli() -> None:
    """ZORG-ID Mobiel: registratie en identiteit in de zorg / registration and identity."""


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
