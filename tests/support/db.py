"""A fresh, migrated database for every test, on SQLite and on PostgreSQL.

``database_url`` is parametrised, so a test that uses it (or ``container``) runs twice: once on a
SQLite file in the test's ``tmp_path`` and once on a PostgreSQL database made just for it
(``CREATE DATABASE zt_<random>``, dropped afterwards). The schema is always built by the Alembic
migrations (:func:`zorgid.db.migrate.upgrade`), exactly as ``zorgid db upgrade`` builds it, never
by ``create_all``: a migration that does not match the models fails here first.

PostgreSQL is found at ``ZORGID_TEST_POSTGRESQL_URL`` (default: user ``postgres`` on
127.0.0.1:5432, trust authentication; ``scripts/setup`` and ``.ci/run`` provide it). When it
cannot be reached the PostgreSQL half of the tests fails with a message saying so: a database
that silently drops out of the test run would hide exactly the races these tests exist for.

Registered for every test by ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import secrets
from typing import TYPE_CHECKING

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from tests.support.clock import ManualClock
from zorgid.bootstrap import build
from zorgid.db.engine import make_engine
from zorgid.db.migrate import upgrade
from zorgid.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from zorgid.bootstrap import Container

DATABASES = ("sqlite", "postgresql")
POSTGRESQL_ADMIN_URL = os.environ.get(
    "ZORGID_TEST_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
PUBLIC_URL = "https://zorgid.test"


def _admin_connection() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(POSTGRESQL_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        problem = str(error).strip()
    pytest.fail(
        f"PostgreSQL is not reachable at {POSTGRESQL_ADMIN_URL} ({problem}). The database "
        "tests run on SQLite and PostgreSQL; start PostgreSQL (.ci/run does: pg_ctlcluster "
        "--skip-systemctl-redirect <version> main start) or point ZORGID_TEST_POSTGRESQL_URL "
        "at a server where this user may create databases.",
        pytrace=False,
    )


def _migrated(url: str) -> str:
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return url


def _sqlite_database(directory: Path) -> str:
    return _migrated(f"sqlite:///{directory / 'zorgid.sqlite3'}")


def _postgresql_database() -> Iterator[str]:
    name = f"zt_{secrets.token_hex(6)}"
    with _admin_connection() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(POSTGRESQL_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield _migrated(url)
    finally:
        # FORCE: a test that failed half-way may leave a connection behind; drop it anyway.
        with _admin_connection() as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new database holding the newest schema and nothing else."""
    if request.param == "sqlite":
        yield _sqlite_database(tmp_path)
    else:
        yield from _postgresql_database()


@pytest.fixture
def clock() -> ManualClock:
    """The test's clock: still until the test advances it."""
    return ManualClock()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings for the test's database, with keys in ``tmp_path``."""
    return Settings(data_dir=tmp_path, database_url=database_url, public_url=PUBLIC_URL)


@pytest.fixture
def container(settings: Settings, clock: ManualClock) -> Iterator[Container]:
    """The service's composition root on the test's database and clock (keys made fresh)."""
    built = build(settings, clock=clock, create_keys=True)
    try:
        yield built
    finally:
        built.close()
