"""Alembic environment: the engine comes from the caller (zorgid.db.migrate)."""

from __future__ import annotations

from alembic import context

from zorgid.schema import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    context.run_migrations()
