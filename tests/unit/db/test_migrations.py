"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from zorgid.db.engine import make_engine
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
