"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from zorgid.db.engine import make_engine
from zorgid.db.migrate import HEAD, alembic_config, is_current
from zorgid.schema import metadata


def test_the_migrated_schema_is_the_models_schema(database_url: str) -> None:
    engine = make_engine(database_url)  # the fixture has run every migration on it
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_the_audit_chain_starts_with_its_head_in_place(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            head = connection.exec_driver_sql("SELECT id, seq, hash FROM audit_head").all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in head] == [(1, 0, "0" * 64)]


def test_the_head_revision_is_the_newest_file_and_alembics_head(tmp_path: Path) -> None:
    config = alembic_config(make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}"))
    script = ScriptDirectory.from_config(config)
    revisions = list(script.walk_revisions())

    assert script.get_current_head() == HEAD
    for revision in revisions:  # NNNN_<what>.py holds revision NNNN, after NNNN - 1
        assert revision.path is not None
        assert Path(revision.path).name.startswith(f"{revision.revision}_")
        previous = f"{int(revision.revision) - 1:04d}" if revision.revision != "0001" else None
        assert revision.down_revision == previous


def test_is_current_reads_the_revision_the_database_holds(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert is_current(engine)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        assert not is_current(engine)
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE alembic_version"))
        assert not is_current(engine)
    finally:
        engine.dispose()


def test_a_running_service_does_not_import_alembic() -> None:
    code = (
        "import sys, zorgid.web.app, zorgid.db.migrate; "
        "print(sorted(m for m in ('alembic', 'mako') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
