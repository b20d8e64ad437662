"""``zorgid audit verify`` and ``zorgid audit checkpoint`` (security.md, operations.md).

``verify`` needs the database and the audit key (``audit.key``, which keys the chain); with
``--checkpoints DIR`` also the checkpoint key's public half (``checkpoint.pub``, or the key
itself). An auditor runs it on a copy with ``--key-dir`` pointing at those files. Exit codes
as everywhere (formats.md): 0 intact, 1 broken (with the first event that does not fit) or a
checkpoint that cannot be trusted, 2 the database or a key cannot be used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from zorgid.audit.checkpoints import (
    Checkpoint,
    CheckpointKey,
    CheckpointSigner,
    file_name,
    head,
    publish,
    read_directory,
)
from zorgid.audit.log import ChainKey, ChainReport, verify_chain
from zorgid.bootstrap import KeyMissingError, key_file
from zorgid.cli.output import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, Out, lang_option, out_for
from zorgid.cli.service import (
    DatabaseError,
    NotMigratedError,
    load_settings,
    open_container,
    settings_options,
)
from zorgid.core.i18n import N_
from zorgid.db.engine import make_engine
from zorgid.db.migrate import is_current
from zorgid.errors import ZorgidError

if TYPE_CHECKING:
    from zorgid.settings import Settings


class AuditChainBrokenError(ZorgidError):
    """The audit log's hash chain does not hold: events were changed, removed or added."""

    code = "audit_chain_broken"
    message = N_(
        "The audit log is NOT intact from event {first} on: {reason}. Events from there on may "
        "have been changed, removed or added; compare them with a backup and investigate."
    )
    exit_code = EXIT_REFUSED


class NoCheckpointDirError(ZorgidError):
    """Where to write a checkpoint was not said."""

    code = "audit_checkpoint_dir_missing"
    message = N_("No directory for checkpoints: set ZORGID_AUDIT_CHECKPOINT_DIR or give --to DIR.")
    exit_code = EXIT_USAGE


@click.group(name="audit")
def audit() -> None:
    """Auditlog controleren / check the audit log."""


_KEY_DIR = click.option(
    "--key-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Map met audit.key en checkpoint.pub / directory holding audit.key and checkpoint.pub.",
)


@audit.command(name="verify")
@settings_options
@_KEY_DIR
@click.option(
    "--checkpoints",
    "checkpoint_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Map met getekende checkpoints / directory of signed checkpoints to hold the log to.",
)
@click.option("--json", "as_json", is_flag=True, help="Uitvoer als JSON / JSON output.")
@lang_option
def verify(  # noqa: PLR0913 - the command's options
    *,
    data_dir: Path | None,
    database_url: str | None,
    key_dir: Path | None,
    checkpoint_dir: Path | None,
    as_json: bool,
    lang: str | None,
) -> None:
    """Controleren dat het auditlog ongeschonden is / check that the audit log is intact."""
    out = out_for(lang, as_json=as_json)
    try:
        settings = load_settings(data_dir, database_url, key_dir=key_dir)
        keys = settings.resolved_key_dir
        chain_key = ChainKey(key_file(keys / "audit.key"))
        checkpoints: list[Checkpoint] = []
        if checkpoint_dir is not None:
            checkpoints = read_directory(checkpoint_dir, _public_key(keys))
        report = _verify(settings, chain_key, checkpoints)
    except ZorgidError as error:
        out.fail(error, extra={"intact": False})
    if not report.intact:
        first = report.first_broken
        out.fail(
            AuditChainBrokenError(report.reason, first=first, reason=report.why or report.reason),
            extra={
                "intact": False,
                "events": report.events,
                "first_broken": first,
                "reason": report.reason,
            },
        )
    msgid = (
        N_("Audit log intact: {events} events, held against {checkpoints} checkpoints.")
        if checkpoint_dir is not None
        else N_("Audit log intact: {events} events.")
    )
    params = {"events": report.events, "checkpoints": report.checkpoints}
    if as_json:
        payload: dict[str, Any] = {
            "intact": True,
            "events": report.events,
            "checkpoints": report.checkpoints,
            "code": "audit_intact",
            "message": out._(msgid, **params),
        }
        out.emit_json(payload)
    else:
        out.say(msgid, **params)
    raise SystemExit(EXIT_OK)


def _public_key(key_dir: Path) -> CheckpointKey:
    """The checkpoint key's public half: ``checkpoint.pub``, else from ``checkpoint.key``."""
    public = key_dir / "checkpoint.pub"
    if not public.exists():
        return CheckpointSigner(key_file(key_dir / "checkpoint.key")).public
    try:
        return CheckpointKey.from_pem(public.read_bytes())
    except (OSError, ValueError, TypeError):
        raise KeyMissingError(f"cannot read {public}", path=str(public)) from None


@audit.command(name="checkpoint")
@settings_options
@click.option(
    "--to",
    "target",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Map voor het checkpoint / directory for it (default: ZORGID_AUDIT_CHECKPOINT_DIR).",
)
@click.option("--json", "as_json", is_flag=True, help="Uitvoer als JSON / JSON output.")
@lang_option
def checkpoint(
    *,
    data_dir: Path | None,
    database_url: str | None,
    target: Path | None,
    as_json: bool,
    lang: str | None,
) -> None:
    """Een getekend checkpoint van het auditlog schrijven / write a signed checkpoint of the log."""
    out = out_for(lang, as_json=as_json)
    with out.reporting():
        settings = load_settings(data_dir, database_url)
        directory = target or settings.audit_checkpoint_dir
        if directory is None:
            raise NoCheckpointDirError
        container = open_container(settings)
        try:
            with container.reading() as session:
                written = publish(
                    session, container.keys.checkpoint, directory, now=container.clock.now()
                )
                seq, head_hash = head(session)
        finally:
            container.close()
        _report_checkpoint(out, written, directory, seq, head_hash)
    raise SystemExit(EXIT_OK)


def _report_checkpoint(
    out: Out, written: Checkpoint | None, directory: Path, seq: int, head_hash: str
) -> None:
    path = directory / file_name(seq, head_hash)
    if written is not None:
        msgid = N_("Checkpoint written: event {seq} of the audit log, in {path}.")
    elif seq == 0:
        msgid = N_("The audit log is empty: there is nothing to checkpoint.")
    else:
        msgid = N_("No new checkpoint: {path} already holds event {seq}, the log's head.")
    if out.json:
        out.emit_json(
            {
                "written": written is not None,
                "seq": seq,
                "hash": head_hash,
                "path": str(path) if seq else None,
                "code": "audit_checkpoint",
                "message": out._(msgid, seq=seq, path=str(path)),
            }
        )
    else:
        out.say(msgid, seq=seq, path=str(path))


def _verify(settings: Settings, key: ChainKey, checkpoints: list[Checkpoint]) -> ChainReport:
    url = settings.resolved_database_url
    shown = _shown(url)
    if _missing_sqlite_file(url):
        # Connecting would create an empty database; an auditor pointing at the wrong place
        # must hear so, and find no new file afterwards.
        raise DatabaseError(
            f"{url}: no such file", url=shown, reason=N_("the database file does not exist")
        )
    try:
        engine = make_engine(url, pool_size=1)
    except SQLAlchemyError as exc:
        raise DatabaseError(str(exc), url=shown, reason=type(exc).__name__) from None
    try:
        if not is_current(engine):
            raise NotMigratedError
        with Session(engine) as session:
            return verify_chain(session, key, checkpoints)
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None)
        raise DatabaseError(str(exc), url=shown, reason=type(orig or exc).__name__) from None
    finally:
        engine.dispose()


def _shown(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return "?"


def _missing_sqlite_file(url: str) -> bool:
    try:
        parsed = make_url(url)
    except SQLAlchemyError:
        return False
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in {"", ":memory:"}:
        return False
    if database.startswith("file:"):  # a URI filename: SQLite's own rules apply
        return False
    return not Path(database).is_file()
