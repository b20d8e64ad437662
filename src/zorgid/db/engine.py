"""Engines and sessions: SQLite (the default, one file) and PostgreSQL (psycopg 3) by URL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


#: Execution option marking a connection that only reads (see :func:`make_read_session_factory`).
READ_ONLY = "zorgid_read_only"
#: Each SQLite connection's page cache, 512 KiB (SQLite's default is 2 MiB, kept for the
#: connection's life, and the service holds several): the operating system caches the file
#: too, and the login's steps read a few rows by key (measured: no fewer ceremonies a second;
#: docs/operations.md, "Memory").
SQLITE_CACHE_SIZE = "PRAGMA cache_size=-512"


def make_engine(url: str, *, pool_size: int = 20) -> Engine:
    """An engine for ``url``, configured for many short transactions from several threads."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30, "isolation_level": None},
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        event.listen(engine, "connect", _sqlite_connect)
        # pysqlite's own transaction handling is switched off (isolation_level=None above) so
        # that every transaction starts with BEGIN IMMEDIATE: it takes the write lock up front,
        # so concurrent writers queue on the busy timeout instead of failing on lock upgrade.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # No pre-ping: it costs a round trip per transaction; a dropped connection is replaced
    # when it fails (and recycled hourly before a server or proxy timeout drops it).
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=3600)


def _sqlite_connect(dbapi_connection: Any, _record: object) -> None:  # noqa: ANN401 - DBAPI
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute(SQLITE_CACHE_SIZE)
    cursor.close()


def _sqlite_begin(connection: Any) -> None:  # noqa: ANN401 - SQLAlchemy event
    # Reads (READ_ONLY option) begin deferred: they take no write lock and never queue behind
    # writers (WAL gives them a snapshot).
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (services return them)."""
    return sessionmaker(engine, expire_on_commit=False)


def make_read_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for reading only: on SQLite they take no write lock."""
    return sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)
