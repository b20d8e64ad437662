"""Running the service: ``zorgid init``, ``zorgid db upgrade``, ``zorgid serve``."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy.exc import SQLAlchemyError

from zorgid.audit.checkpoints import ready
from zorgid.bootstrap import Container, build
from zorgid.cli.output import EXIT_USAGE, Out, lang_option, out_for
from zorgid.core.i18n import N_
from zorgid.db.migrate import is_current, upgrade
from zorgid.errors import ZorgidError
from zorgid.settings import Settings, check, from_environment

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from fastapi import APIRouter, FastAPI


class DatabaseError(ZorgidError):
    """The database cannot be reached or used."""

    code = "database_unavailable"
    message = N_(
        "The database ({url}) cannot be used: {reason}. Check ZORGID_DATABASE_URL and that the "
        "database server is running."
    )
    exit_code = EXIT_USAGE


class NotMigratedError(ZorgidError):
    """The schema is older than this version of zorgid."""

    code = "database_not_migrated"
    message = N_(
        "The database is not set up for this version of zorgid. Run `zorgid init` (or "
        "`zorgid db upgrade`) first."
    )
    exit_code = EXIT_USAGE


def settings_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--data-dir`` and ``--database-url``, overriding the environment."""
    function = click.option(
        "--database-url", default=None, help="SQLAlchemy URL (default: SQLite in the data dir)."
    )(function)
    return click.option(
        "--data-dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help="Map voor database en sleutels / directory for database and keys.",
    )(function)


def load_settings(data_dir: Path | None, database_url: str | None, **more: Any) -> Settings:  # noqa: ANN401
    """Settings from the environment, with command options on top."""
    settings = from_environment()
    changes = {
        k: v
        for k, v in {"data_dir": data_dir, "database_url": database_url, **more}.items()
        if v is not None
    }
    # Command options are checked as the environment's values are (a --public-url too).
    return check(settings.replace(**changes)) if changes else settings


def open_container(
    settings: Settings, *, create_keys: bool = False, migrate: bool = False
) -> Container:
    """The container for a command, with the database checked (or brought up to date)."""
    container = build(settings, create_keys=create_keys)
    url = container.engine.url.render_as_string(hide_password=True)
    try:
        if migrate:
            upgrade(container.engine)
        elif not is_current(container.engine):
            raise NotMigratedError
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
        raise DatabaseError(str(exc), url=url, reason=reason) from None
    return container


@click.command(name="init")
@settings_options
@lang_option
def init(data_dir: Path | None, database_url: str | None, lang: str | None) -> None:
    """Database en sleutels aanmaken of bijwerken / create or update database and keys."""
    out = out_for(lang)
    with out.reporting():
        settings = load_settings(data_dir, database_url)
        container = open_container(settings, create_keys=True, migrate=True)
        container.close()
        out.say(
            N_(
                "Ready: database {url}, keys in {keys}. Keep the keys apart from the database "
                "and back them up."
            ),
            url=container.engine.url.render_as_string(hide_password=True),
            keys=str(settings.resolved_key_dir),
        )


@click.group(name="db")
def db() -> None:
    """Database beheren / manage the database."""


@db.command(name="upgrade")
@settings_options
@lang_option
def db_upgrade(data_dir: Path | None, database_url: str | None, lang: str | None) -> None:
    """Database bijwerken naar deze versie / migrate the database to this version."""
    out = out_for(lang)
    with out.reporting():
        settings = load_settings(data_dir, database_url)
        container = open_container(settings, create_keys=True, migrate=True)
        container.close()
        out.say(N_("The database is up to date."))


#: ``--public-url``, overriding ZORGID_PUBLIC_URL: where people and apps reach the service.
public_url_option = click.option(
    "--public-url", default=None, help="Publieke URL / the URL people and apps use."
)


@click.command(name="serve")
@settings_options
@click.option("--host", default=None, help="Adres om op te luisteren / address to listen on.")
@click.option("--port", type=int, default=None, help="Poort / port.")
@public_url_option
@lang_option
def serve(  # noqa: PLR0913, PLR0917 - the command's options
    data_dir: Path | None,
    database_url: str | None,
    host: str | None,
    port: int | None,
    public_url: str | None,
    lang: str | None,
) -> None:
    """De dienst starten / run the service."""
    out = out_for(lang)
    with out.reporting():
        settings = load_settings(
            data_dir, database_url, host=host, port=port, public_url=public_url
        )
        container = open_container(settings)
        check_before_serving(container)
    run_server(container, out)


class AddressInUseError(ZorgidError):
    """A port the service must listen on is taken."""

    code = "address_in_use"
    message = N_(
        "Cannot listen on {address}: {reason}. Stop the other program that uses it, or choose "
        "another port ({setting})."
    )
    exit_code = 2


def check_before_serving(container: Container) -> None:
    """Refuse to start, with a clear message, what would fail during start-up."""
    settings = container.settings
    listeners = [(settings.host, settings.port, "--port / ZORGID_PORT")]
    if settings.inbound and settings.inbound_port:
        listeners.append((settings.inbound_host, settings.inbound_port, "ZORGID_INBOUND_PORT"))
    for host, port, setting in listeners:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as error:
                raise AddressInUseError(
                    str(error), address=f"{host}:{port}", reason=error.strerror, setting=setting
                ) from None
    if settings.trust_anchors:
        container.validator()  # unreadable trust files stop the start, not the first upload
    if settings.audit_checkpoint_dir is not None and settings.audit_checkpoint_minutes:
        ready(settings.audit_checkpoint_dir)  # nor does a checkpoint directory it cannot write


def make_app(container: Container, routers: Sequence[APIRouter] = ()) -> FastAPI:
    """The web app around ``container``, with ``routers`` added (the demo adds its mailbox)."""
    from zorgid.web.app import create_app  # noqa: PLC0415 - only the server needs the web app

    app = create_app(container)
    for router in routers:
        app.include_router(router)
    return app


def run_server(container: Container, out: Out, *, routers: Sequence[APIRouter] = ()) -> None:
    """Serve the web app until interrupted (with ``routers`` added to it)."""
    import uvicorn  # noqa: PLC0415 - only this command needs the server

    from zorgid.web.observability import configure_logging  # noqa: PLC0415
    from zorgid.web.server import HeadLimits, guarded  # noqa: PLC0415

    settings = container.settings
    configure_logging(json_logs=settings.environment == "production", level=settings.log_level)
    out.say(N_("ZORG-ID is running at {url} (stop with Ctrl+C)."), url=settings.public_url)
    uvicorn.run(
        make_app(container, routers),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        # The app shows the browser's address and the audit log records it: behind a proxy,
        # that is X-Forwarded-For, believed only from the proxies named in the setting.
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
        server_header=False,
        # Limits on a request's head that uvicorn has no option for (zorgid.web.server).
        http=guarded(
            HeadLimits(
                max_head_bytes=settings.http_max_head_bytes,
                max_headers=settings.http_max_headers,
                head_timeout=settings.http_head_timeout_seconds,
            )
        ),
    )
