"""Running the Alembic migrations from code (``zorgid db upgrade``, the demo, the tests).

Alembic (with Mako) is imported only to migrate: a running service asks :func:`is_current` on
every readiness probe, which reads the revision itself, so the server process does not carry
Alembic's 11 MB.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).parent / "migrations"
#: The newest revision: migrations are files ``NNNN_<what>.py`` whose revision is ``NNNN``, each
#: following the one before (tests/unit/db/test_migrations.py holds Alembic to this).
HEAD = max(path.name[:4] for path in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration that runs on ``engine``."""
    from alembic.config import Config  # noqa: PLC0415 - only migrating needs Alembic

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision."""
    from alembic import command  # noqa: PLC0415 - only migrating needs Alembic

    command.upgrade(alembic_config(engine), "head")


def is_current(engine: Engine) -> bool:
    """Whether the database's schema is at the newest revision (:data:`HEAD`)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return False
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    return [row[0] for row in versions] == [HEAD]
