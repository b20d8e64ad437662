"""The service's operators: ``zorgid operator add | activation | revoke``."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import TYPE_CHECKING

import click
import httpx

from zorgid.cli.output import Out, lang_option, out_for, write_file_atomically
from zorgid.cli.service import load_settings, open_container, public_url_option, settings_options
from zorgid.core.i18n import N_, Message
from zorgid.core.qrcode import make_qr, png_bytes

if TYPE_CHECKING:
    from collections.abc import Iterator

    import segno

    from zorgid.identity.service import IdentityService, IssuedActivation
    from zorgid.settings import Settings


#: Where a command writes the activation QR as PNG (default: in the data directory).
qr_png_option = click.option(
    "--qr-png",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Waar de activatie-QR als PNG komt / where to write the activation QR as PNG.",
)
email_option = click.option(
    "--email", required=True, help="E-mailadres van de persoon / the person's e-mail."
)
#: How long the command waits for the service at the public URL to answer.
PROBE_SECONDS = 3.0


@contextlib.contextmanager
def identity_work(settings: Settings) -> Iterator[IdentityService]:
    """The identity service in one unit of work on the configured database."""
    container = open_container(settings)
    try:
        with container.unit_of_work() as session:
            yield container.identity(session)
    finally:
        container.close()


@click.group(name="operator")
def operator() -> None:
    """Operators van de dienst / the service's operators."""


@operator.command(name="add")
@click.option("--name", required=True, help="Volledige naam / full name.")
@email_option
@qr_png_option
@settings_options
@public_url_option
@lang_option
def add(  # noqa: PLR0913, PLR0917 - the command's options
    name: str,
    email: str,
    qr_png: Path | None,
    data_dir: Path | None,
    database_url: str | None,
    public_url: str | None,
    lang: str | None,
) -> None:
    """Operator toevoegen en activatie-QR tonen / add an operator and show its activation QR."""
    out = out_for(lang)
    with out.reporting():
        settings = load_settings(data_dir, database_url, public_url=public_url)
        with identity_work(settings) as identity:
            person, issued = identity.add_operator(
                name=name, email=email, actor="cli", source="cli"
            )
        show_activation(out, issued, qr_png or settings.data_dir / f"activatie-{person.id}.png")
        warn_unless_served(out, settings.public_url)


@operator.command(name="activation")
@email_option
@qr_png_option
@settings_options
@public_url_option
@lang_option
def activation(  # noqa: PLR0913, PLR0917 - the command's options
    email: str,
    qr_png: Path | None,
    data_dir: Path | None,
    database_url: str | None,
    public_url: str | None,
    lang: str | None,
) -> None:
    """Nieuwe activatie-QR (app geblokkeerd) / a new activation QR (app blocked or lost)."""
    out = out_for(lang)
    with out.reporting():
        settings = load_settings(data_dir, database_url, public_url=public_url)
        with identity_work(settings) as identity:
            person = identity.person_by_email(email)
            issued = identity.issue_activation(person, actor="cli", source="cli")
        show_activation(out, issued, qr_png or settings.data_dir / f"activatie-{person.id}.png")
        warn_unless_served(out, settings.public_url)


def service_problem(public_url: str, *, timeout: float = PROBE_SECONDS) -> Message | None:
    """Why no ZORG-ID service answers at ``public_url`` (its /healthz), or None when one does."""
    try:
        answer = httpx.get(f"{public_url}/healthz", timeout=timeout, follow_redirects=False)
    except httpx.TimeoutException:
        return Message(N_("no answer within {seconds} seconds"), {"seconds": int(timeout)})
    except httpx.HTTPError as error:
        return Message(N_("no connection: {reason}"), {"reason": str(error)[:200] or "?"})
    try:
        healthy = answer.status_code == 200 and answer.json() == {"status": "ok"}  # noqa: PLR2004
    except ValueError:
        healthy = False
    if not healthy:
        return Message(
            N_("it answered HTTP {status}, not as ZORG-ID does"), {"status": answer.status_code}
        )
    return None


def warn_unless_served(out: Out, public_url: str) -> None:
    """Warn when the QR's address has no service behind it: the app would send its key there."""
    problem = service_problem(public_url)
    if problem is not None:
        out.warn(
            N_(
                "no ZORG-ID service answers at {url} ({problem}). The app sends its new key "
                "and PIN to this address. Start the service there, or give the address it runs "
                "at (ZORGID_PUBLIC_URL or --public-url) and make a new code with `zorgid "
                "operator activation`."
            ),
            url=public_url,
            problem=problem,
        )


@operator.command(name="revoke")
@email_option
@settings_options
@lang_option
def revoke(email: str, data_dir: Path | None, database_url: str | None, lang: str | None) -> None:
    """Apps van iemand uitschakelen (kwijt/gestolen) / switch off someone's apps (lost/stolen)."""
    out = out_for(lang)
    with out.reporting():
        with identity_work(load_settings(data_dir, database_url)) as identity:
            person = identity.person_by_email(email)
            count = identity.revoke_devices_of(person, actor="cli", source="cli")
        out.say(
            N_("Switched off: {count} app(s) of {name}. Their portal sessions have ended."),
            count=count,
            name=person.name,
        )


def write_qr_png(text: str, path: Path) -> segno.QRCode:
    """Write the QR code of ``text`` as a PNG file (atomically) and return it."""
    qr = make_qr(text)
    write_file_atomically(path, png_bytes(qr))
    return qr


def show_activation(out: Out, issued: IssuedActivation, png: Path) -> None:
    """Print an activation QR in the terminal, write it as PNG, and print its text."""
    qr = write_qr_png(issued.qr_text, png)
    out.say(
        N_("One-time activation QR code for {name} (valid until {until}):"),
        name=issued.person_name,
        until=issued.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
    )
    terminal = io.StringIO()
    qr.terminal(out=terminal, compact=True, border=2)
    click.echo(terminal.getvalue())
    out.say(N_("The same QR code as an image: {path}"), path=str(png))
    out.say(N_("The text in the QR code: {text}"), text=issued.qr_text)
    out.say(
        N_(
            "Activate the app with it: zorgid app --home <folder> activate {path}\n"
            "Anyone who gets this code before you can activate it: keep it to yourself."
        ),
        path=str(png),
    )
