"""``zorgid pki``: the test PKI for demos, tests and trying the system."""

from __future__ import annotations

from pathlib import Path

import click

from zorgid.cli.output import lang_option, out_for
from zorgid.core.clock import SystemClock
from zorgid.core.i18n import N_
from zorgid.errors import ZorgidError
from zorgid.pki.testpki import DEMO_PKCS12_PASSWORD, TestPki, write_test_pki


class DirectoryNotEmptyError(ZorgidError):
    """init-test would overwrite an existing directory's files."""

    code = "directory_not_empty"
    message = N_(
        "The directory {path} is not empty. Choose a new directory, or add --force to replace "
        "the test PKI in it."
    )
    exit_code = 2


class DirectoryError(ZorgidError):
    """The directory cannot be created or written."""

    code = "directory_error"
    message = N_("The directory {path} cannot be used: {reason}.")
    exit_code = 2


@click.group(name="pki")
def pki() -> None:
    """Certificaten en test-PKI / certificates and the test PKI."""


@pki.command(name="init-test")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--force", is_flag=True, help="Bestaande test-PKI vervangen / replace one.")
@lang_option
def init_test(directory: Path, force: bool, lang: str | None) -> None:  # noqa: FBT001 - click flag
    """Test-PKI aanmaken zoals de UZI-register testomgeving / create a test PKI."""
    out = out_for(lang)
    with out.reporting():
        if directory.exists() and any(directory.iterdir()) and not force:
            raise DirectoryNotEmptyError(path=str(directory))
        try:
            directory.mkdir(parents=True, exist_ok=True)
            written = write_test_pki(directory, TestPki(now=SystemClock().now()))
        except OSError as exc:
            raise DirectoryError(
                str(exc), path=str(directory), reason=exc.strerror or str(exc)
            ) from None
        out.say(
            N_("Test PKI created in {path} (for testing only, never for production):"),
            path=str(directory),
        )
        for item in written:
            description = out._(item.description, name=item.name)
            click.echo(f"  {item.path.relative_to(directory)}  {description}")
        out.say(
            N_(
                "\nTrust anchor for verification: {anchor}\n"
                "Demo organisation: URA 90000123, certificate organisations/90000123/server.p12 "
                "(password: {password})\n"
                "Try: zorgid validatietool inspect {path}/organisations/90000123/server-cert.pem"
            ),
            anchor=str(directory / "ca" / "server-ca.pem"),
            password=DEMO_PKCS12_PASSWORD,
            path=str(directory),
        )
