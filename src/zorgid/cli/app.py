"""``zorgid app``: the reference phone app as a command (formats.md "The reference app").

``activate`` redeems an activation QR code, ``login`` answers a QR login (showing who asks and
the code to type in the browser), ``id`` shows the "ID" screen. The protocol is in
docs/protocol.md; the work is done by :mod:`zorgid.mobileapp.service`.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from zorgid.cli.output import EXIT_REFUSED, Out, lang_option, out_for, stdin_is_terminal
from zorgid.core.i18n import N_
from zorgid.mobileapp.client import AppClient
from zorgid.mobileapp.errors import (
    DeviceGoneError,
    HomeError,
    NotActivatedError,
    PinFormatError,
    PinMismatchError,
    PinMissingError,
    PinWrongError,
    ServiceError,
    ServiceRefusedError,
)
from zorgid.mobileapp.keystore import Home
from zorgid.mobileapp.pin import check_new_pin, check_pin_format
from zorgid.mobileapp.qr import QrKind, expect_kind, read_source
from zorgid.mobileapp.service import IdReport, MobileApp, PendingLogin

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Iterable

    from zorgid.errors import ZorgidError
    from zorgid.mobileapp.models import Identity, LoginOutcome

#: A PIN line is five digits; more than this on standard input is not read.
_PIN_LINE_LIMIT = 100
#: How often a person at a terminal may mistype a new PIN before the command stops.
_NEW_PIN_TRIES = 3

_STATUS_NAMES = {
    "active": N_("active"),
    "blocked": N_("blocked"),
    "revoked": N_("revoked"),
    "not_activated": N_("not activated"),
}


@dataclass(frozen=True)
class AppOptions:
    """The group's options, passed to each command."""

    home: Path


pass_options = click.make_pass_decorator(AppOptions)


@click.group(name="app")
@click.option(
    "--home",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Map van de app (sleutel en activering) / the app's directory (key and activation).",
)
@click.pass_context
def app(ctx: click.Context, home: Path) -> None:
    """De referentie-app van ZORG-ID / the ZORG-ID reference phone app."""
    ctx.obj = AppOptions(home=home)


def _mobile_app(options: AppOptions, out: Out) -> MobileApp:
    return MobileApp(home=Home(options.home), connect=lambda url: AppClient(url, lang=out.lang))


# --- activate --------------------------------------------------------------------------------


@app.command()
@click.argument("source")
@click.option(
    "--pin-stdin", is_flag=True, help="PIN van standaardinvoer / read the PIN from stdin."
)
@lang_option
@pass_options
def activate(options: AppOptions, *, source: str, pin_stdin: bool, lang: str | None) -> None:
    """Activeren met een activerings-QR-code / activate with an activation QR code.

    SOURCE is an image file (PNG/JPEG) with the QR code, or the text the QR code holds.
    """
    out = out_for(lang)
    with out.reporting():
        pointer = expect_kind(read_source(source), QrKind.ACTIVATION)
        if not pin_stdin:
            _require_terminal()
        mobile = _mobile_app(options, out)
        mobile.check_can_activate(pointer)
        out.say(N_("Activating this app with the service at {url}."), url=pointer.base_url)
        pin = _read_pin_line(check_new_pin) if pin_stdin else _ask_new_pin(out)
        activation = mobile.activate(pointer, pin)
        out.say(N_("This app is activated."))
        _print_identity(out, activation.identity, activation.service_url)


def _ask_new_pin(out: Out) -> str:
    error: ZorgidError = PinMismatchError()
    for _ in range(_NEW_PIN_TRIES):
        first = click.prompt(out._(N_("Choose a PIN (5 digits)")), hide_input=True)
        try:
            check_new_pin(first)
        except PinFormatError as exc:
            error = exc
            _warn(out, exc)
            continue
        second = click.prompt(out._(N_("Type the same PIN again")), hide_input=True)
        if first == second:
            return first
        error = PinMismatchError()
        _warn(out, error)
    raise error


# --- login -----------------------------------------------------------------------------------


@app.command()
@click.argument("source")
@click.option(
    "--pin-stdin", is_flag=True, help="PIN van standaardinvoer / read the PIN from stdin."
)
@click.option("--deny", is_flag=True, help="Inloggen weigeren / decline the login.")
@lang_option
@pass_options
def login(
    options: AppOptions, *, source: str, pin_stdin: bool, deny: bool, lang: str | None
) -> None:
    """Inloggen met een inlog-QR-code / log in with a login QR code.

    Shows who asks and the code to type in the browser, waits until it is typed, then asks
    for the PIN. SOURCE is an image file (PNG/JPEG) with the QR code, or its text.
    """
    out = out_for(lang)
    with out.reporting():
        pointer = expect_kind(read_source(source), QrKind.LOGIN)
        if not (pin_stdin or deny):
            _require_terminal()
        mobile = _mobile_app(options, out)
        try:
            pending = mobile.start_login(pointer)
            _print_request(out, pending)
            if deny:
                mobile.decline(pending)
                out.say(N_("Declined. This login will not go ahead."))
                return
            outcome = _confirm_and_approve(out, mobile, pending, pin_stdin=pin_stdin)
        except DeviceGoneError:
            out.say(
                N_(
                    "This app has deleted its key and activation. Ask for a new activation QR "
                    "code and activate again."
                )
            )
            raise
        if outcome is None:
            out.say(N_("Declined. This login will not go ahead."))
            return
        _print_outcome(out, pending, outcome)


def _confirm_and_approve(
    out: Out, mobile: MobileApp, pending: PendingLogin, *, pin_stdin: bool
) -> LoginOutcome | None:
    """Wait for the browser, then approve with the PIN; None when the person declined."""
    try:
        out.say(N_("Waiting until the code has been typed in the browser (Ctrl-C declines)..."))
        challenge = mobile.wait_for_browser(pending)
        out.say(N_("The browser has the right code."))
        return _approve(out, mobile, pending, challenge, pin_stdin=pin_stdin)
    except (KeyboardInterrupt, click.Abort):
        # Stopping is saying no: the service hears it at once instead of at expiry.
        with contextlib.suppress(ServiceError, HomeError):
            mobile.decline(pending)
        click.echo("", err=True)
        raise


def _print_request(out: Out, pending: PendingLogin) -> None:
    request = pending.request
    unknown = out._(N_("unknown"))
    out.say(
        N_("Login request for {service} ({host})"), service=request.service_name, host=request.host
    )
    out.say(N_("  Time:       {time}"), time=_local_time(request.requested_at))
    out.say(N_("  Browser:    {ip}"), ip=request.browser_ip or unknown)
    out.say(N_("  Programme:  {agent}"), agent=request.user_agent or unknown)
    out.say(N_("Only go on if you started this login yourself. Type this code in the browser:"))
    # The same word in both languages, on a line of its own, so that scripts find it.
    click.echo(f"Code: {request.code}")


def _approve(
    out: Out, mobile: MobileApp, pending: PendingLogin, challenge: str, *, pin_stdin: bool
) -> LoginOutcome | None:
    if pin_stdin:
        # Read only now: a script writes the PIN once it has seen the code confirmed.
        return mobile.approve(pending, challenge, _read_pin_line(check_pin_format))
    while True:
        prompt = out._(N_("PIN to approve (leave empty to decline)"))
        pin = click.prompt(prompt, hide_input=True, default="", show_default=False)
        if not pin:
            mobile.decline(pending)
            return None
        try:
            return mobile.approve(pending, challenge, pin)
        except PinFormatError as error:
            _warn(out, error)
        except PinWrongError as error:
            if not error.remaining_attempts or error.retry_after:
                raise  # no try left, or a wait before the next: asking again is pointless
            _warn(out, error)


def _print_outcome(out: Out, pending: PendingLogin, outcome: LoginOutcome) -> None:
    name = outcome.person_name or pending.activation.identity.person_name
    out.say(
        N_("Approved: {name} is logged in to {service}."),
        name=name,
        service=pending.request.service_name,
    )


def _local_time(moment: dt.datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z").strip()


# --- id --------------------------------------------------------------------------------------


@app.command(name="id")
@click.option("--json", "as_json", is_flag=True, help="Uitvoer als JSON / JSON output.")
@lang_option
@pass_options
def show_id(options: AppOptions, *, as_json: bool, lang: str | None) -> None:
    """Wat de app onder "ID" toont / what the app shows under "ID"."""
    out = out_for(lang, as_json=as_json)
    with out.reporting():
        report = _mobile_app(options, out).identity()
    problem = report.problem
    if report.status == "not_activated":
        problem = NotActivatedError(str(options.home), home=str(options.home))
    failed = (
        report.status == "not_activated" or report.wiped or isinstance(problem, ServiceRefusedError)
    )
    if as_json:
        out.emit_json(_id_json(out, report, problem))
    elif report.status == "not_activated" and problem is not None:
        _warn(out, problem)
    else:
        _print_report(out, report, problem)
    if failed:
        raise SystemExit(EXIT_REFUSED)


def _id_json(out: Out, report: IdReport, problem: ZorgidError | None) -> dict[str, Any]:
    identity = report.identity
    return {
        "name": identity.person_name if identity else None,
        "organisations": [
            {"ura": organisation.ura, "name": organisation.name, "roles": list(roles)}
            for organisation, roles in (identity.organisations() if identity else ())
        ],
        "roles": list(identity.roles()) if identity else [],
        "status": report.status,
        "device_id": identity.device_id if identity else None,
        "service": report.service_url,
        "offline": report.offline,
        "code": problem.code if problem else None,
        "message": _problem_text(out, report, problem),
    }


def _problem_text(out: Out, report: IdReport, problem: ZorgidError | None) -> str | None:
    if report.wiped:
        return out._(
            N_(
                "The service says this app may no longer be used ({status}); the app has deleted "
                "its key. Ask for a new activation QR code and activate again."
            ),
            status=out._(_STATUS_NAMES.get(report.status, report.status)),
        )
    if problem is None:
        return None
    text = problem.public_message(out.lang)
    if report.offline:
        return out._(
            N_("Offline: {reason} Shown is what the app knew on {time}."),
            reason=text,
            time=_local_time(report.refreshed_at) if report.refreshed_at else "?",
        )
    return text


def _print_report(out: Out, report: IdReport, problem: ZorgidError | None) -> None:
    identity = report.identity
    if identity is not None:
        _print_identity(out, identity, report.service_url, status=report.status)
    message = _problem_text(out, report, problem)
    if message:
        click.echo(message, err=isinstance(problem, ServiceRefusedError) or report.wiped)


def _print_identity(
    out: Out, identity: Identity, service_url: str | None, *, status: str | None = None
) -> None:
    out.say(N_("Name:          {name}"), name=identity.person_name)
    organisations = identity.organisations()
    if not organisations:
        out.say(N_("Organisations: none"))
    for index, (organisation, roles) in enumerate(organisations):
        line = N_("Organisations: {name} (URA {ura}): {roles}")
        if index:
            line = N_("               {name} (URA {ura}): {roles}")
        out.say(line, name=organisation.name, ura=organisation.ura, roles=_role_names(out, roles))
    out.say(N_("Roles:         {roles}"), roles=_role_names(out, identity.roles()) or "-")
    status_name = _STATUS_NAMES.get(status or identity.status.value, status or "")
    out.say(N_("Status:        {status}"), status=out._(status_name))
    out.say(N_("Service:       {name} ({url})"), name=identity.service_name, url=service_url)
    out.say(N_("Device:        {device_id}"), device_id=identity.device_id)


#: How the app names the roles of docs/protocol.md (unknown ones are shown as they come).
ROLE_NAMES = {
    "operator": N_("Operator"),
    "administrator": N_("Portal administrator"),
    "beheerder": N_("Portal beheerder"),
    "gebruiker": N_("Healthcare worker"),
}


def _role_names(out: Out, roles: Iterable[str]) -> str:
    return ", ".join(out._(ROLE_NAMES[role]) if role in ROLE_NAMES else role for role in roles)


# --- the PIN ---------------------------------------------------------------------------------


def _read_pin_line(check: Callable[[str], str]) -> str:
    line = sys.stdin.readline(_PIN_LINE_LIMIT)
    if not line:
        raise PinMissingError("end of input", reason=N_("There is no PIN on standard input."))
    return check(line.strip())


def _require_terminal() -> None:
    if not stdin_is_terminal():
        raise PinMissingError(
            "no terminal",
            reason=N_(
                "There is no terminal to ask for the PIN. Give it on standard input with "
                "--pin-stdin."
            ),
        )


def _warn(out: Out, error: ZorgidError) -> None:
    click.echo(out._(N_("Error")) + f" [{error.code}]: {error.public_message(out.lang)}", err=True)
