"""``zorgid audit verify``: check that the hash-chained audit log is intact (security.md).

Needs only the database (no keys): an auditor can run it on a copy. Exit codes as everywhere
(formats.md): 0 intact, 1 broken (with the first event that does not fit), 2 the database cannot
be used (unreachable, or not at this version's schema).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from zorgid.audit.log import ChainReport, verify_chain
from zorgid.cli.output import EXIT_OK, EXIT_REFUSED, lang_option, out_for
from zorgid.cli.service import DatabaseError, NotMigratedError, load_settings, settings_options
from zorgid.core.i18n import N_
from zorgid.db.engine import make_engine
from zorgid.db.migrate import is_current
from zorgid.errors import ZorgidError

if TYPE_CHECKING:
    from zorgid.settings import Settings

#: verify_chain's reasons (English, for logs and --json), as the person reads them.
_REASONS = {
    "the link to the previous event is broken": N_("the link to the previous event is broken"),
    "the event was changed after it was written": N_("the event was changed after it was written"),
    "events at the end were removed or the head was changed": N_(
        "events at the end were removed or the head was changed"
    ),
    "an event cannot be read any more": N_("an event cannot be read any more"),
}
_MISSING = N_("the event is missing")


class AuditChainBrokenError(ZorgidError):
    """The audit log's hash chain does not hold: events were changed, removed or added."""

    code = "audit_chain_broken"
    message = N_(
        "The audit log is NOT intact from event {first} on: {reason}. Events from there on may "
        "have been changed, removed or added; compare them with a backup and investigate."
    )
    exit_code = EXIT_REFUSED


@click.group(name="audit")
def audit() -> None:
    """Auditlog controleren / check the audit log."""


@audit.command(name="verify")
@settings_options
@click.option("--json", "as_json", is_flag=True, help="Uitvoer als JSON / JSON output.")
@lang_option
def verify(
    *, data_dir: Path | None, database_url: str | None, as_json: bool, lang: str | None
) -> None:
    """Controleren dat het auditlog ongeschonden is / check that the audit log is intact."""
    out = out_for(lang, as_json=as_json)
    try:
        report = _verify(load_settings(data_dir, database_url))
    except ZorgidError as error:
        out.fail(error, extra={"intact": False})
    if not report.intact:
        first = report.first_broken
        out.fail(
            AuditChainBrokenError(report.reason, first=first, reason=_person_reason(report)),
            extra={
                "intact": False,
                "events": report.events,
                "first_broken": first,
                "reason": report.reason,
            },
        )
    if as_json:
        payload: dict[str, Any] = {
            "intact": True,
            "events": report.events,
            "code": "audit_intact",
            "message": out._(N_("Audit log intact: {events} events."), events=report.events),
        }
        out.emit_json(payload)
    else:
        out.say(N_("Audit log intact: {events} events."), events=report.events)
    raise SystemExit(EXIT_OK)


def _person_reason(report: ChainReport) -> str:
    if report.reason == f"event {report.first_broken} is missing":
        return _MISSING
    return _REASONS.get(report.reason, report.reason)


def _verify(settings: Settings) -> ChainReport:
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
            return verify_chain(session)
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
