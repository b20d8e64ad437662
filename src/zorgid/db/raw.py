"""Plain DBAPI access for the steps on every login's path: no ORM, no SQL compilation.

A login step is a function of a :class:`Tx`. SQL is written once, with ``:name`` placeholders
(sqlite3's named style; PostgreSQL's flavour swaps them for ``%(name)s``), and the few places
where the two databases differ are methods of :class:`Tx` (times, JSON, row locks).

How a step runs (:meth:`RawDatabase.run`):

- **SQLite**: the whole step is one transaction (``BEGIN IMMEDIATE`` when it writes, so it holds
  the only write lock from the start; a plain ``BEGIN`` snapshot when it reads). From the event
  loop (:meth:`RawDatabase.call`) a step runs right there, on a connection that never waits
  for the lock: when another writer holds it, the step is run again in a worker thread that
  queues for it. A local step takes microseconds, so it costs less than the thread hop.
- **PostgreSQL**: optimistic first. Reads do not lock and single statements commit on their own
  (one round trip each); a change is a compare-and-set ``UPDATE ... WHERE <what was read>``,
  and changes that belong together go in :meth:`Tx.atomic`. When a compare-and-set finds the
  row changed (:class:`ConflictError`), everything of that attempt is rolled back and the step
  runs once more, locking: one transaction around it, reads ``FOR UPDATE``. So a race costs a
  retry, never a wrong answer.

A refusal that ``keeps_changes`` (an attempt counted) commits what the step wrote, like the
ORM's unit of work (:meth:`zorgid.bootstrap.Container.unit_of_work`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import queue
import re
import sqlite3
import threading
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import anyio.to_thread
from sqlalchemy import event

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from sqlalchemy.orm import Session

T = TypeVar("T")
Params = dict[str, Any]
Row = tuple[Any, ...]
_NAMED = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


class ConflictError(Exception):
    """A compare-and-set found its row changed since it was read: run the step again, locking."""


class WouldBlockError(Exception):
    """SQLite's write lock is held elsewhere: run the step in a thread that may wait for it."""


class Tx(Protocol):
    """What a step may do with the database."""

    #: True when reads lock what they read (then a compare-and-set cannot fail).
    locking: bool

    def one(self, sql: str, params: Params | None = None) -> Row | None:
        """The first row of a query, or None."""
        ...

    def all(self, sql: str, params: Params | None = None) -> list[Row]:
        """All rows of a query."""
        ...

    def execute(self, sql: str, params: Params | None = None) -> int:
        """Run a change; how many rows it changed."""
        ...

    def atomic(self) -> contextlib.AbstractContextManager[None]:
        """Changes in this block commit together or not at all."""
        ...

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the step's changes are committed."""
        ...

    @property
    def for_update(self) -> str:
        """The clause that locks the rows a query reads, when this attempt locks (else "")."""
        ...

    @property
    def row_lock(self) -> str:
        """The clause that always locks what a query reads (a chain's head, say), or ""."""
        ...

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        ...

    def time(self, moment: dt.datetime | None) -> object:
        """A UTC moment as this database stores it."""
        ...

    def json(self, value: object) -> object:
        """A JSON value as this database takes it."""
        ...


def read_time(value: object) -> dt.datetime | None:
    """A stored moment as an aware UTC datetime (SQLite keeps text without a zone)."""
    if value is None:
        return None
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    msg = f"not a stored moment: {value!r}"
    raise TypeError(msg)


def _sqlite_time(moment: dt.datetime | None) -> object:
    # The text SQLAlchemy's SQLite DateTime writes, so both read each other's rows.
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _postgres_json(value: object) -> object:
    from psycopg.types.json import Json  # noqa: PLC0415 - only PostgreSQL needs it

    return Json(value)


def _keeps_changes(error: BaseException) -> bool:
    return bool(getattr(error, "keeps_changes", False))


class _Callbacks:
    def __init__(self) -> None:
        self.callbacks: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        self.callbacks.append(callback)

    def fire(self) -> None:
        for callback in self.callbacks:
            callback()


class RawDatabase(Protocol):
    """Runs steps; see the module's docstring."""

    dialect: str

    def run(self, step: Callable[[Tx], T], *, write: bool) -> T:
        """Run ``step`` in this thread."""
        ...

    async def call(self, step: Callable[[Tx], T], *, write: bool) -> T:
        """Run ``step`` for a coroutine of the event loop."""
        ...

    def close(self) -> None:
        """Close every connection."""
        ...


# -- SQLite -------------------------------------------------------------------------------------


class _SqliteTx(_Callbacks):
    locking = True  # the transaction is exclusive (writes) or a snapshot (reads)
    for_update = ""
    row_lock = ""
    dialect = "sqlite"

    def __init__(self, connection: sqlite3.Connection) -> None:
        super().__init__()
        self._connection = connection

    def one(self, sql: str, params: Params | None = None) -> Row | None:
        row: Row | None = self._connection.execute(sql, params or {}).fetchone()
        return row

    def all(self, sql: str, params: Params | None = None) -> list[Row]:
        return self._connection.execute(sql, params or {}).fetchall()

    def execute(self, sql: str, params: Params | None = None) -> int:
        return self._connection.execute(sql, params or {}).rowcount

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        yield  # the whole step is one transaction already

    def time(self, moment: dt.datetime | None) -> object:
        return _sqlite_time(moment)

    def json(self, value: object) -> object:
        return json.dumps(value)


def _is_locked(error: sqlite3.OperationalError) -> bool:
    return getattr(error, "sqlite_errorcode", None) in {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
    } or "locked" in str(error)


class SqliteDatabase:
    """One SQLite file; see the module's docstring."""

    dialect = "sqlite"

    def __init__(self, path: str, *, write_lock: contextlib.AbstractContextManager[object]) -> None:
        self._path = path
        self._write_lock = write_lock
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        # One connection per event loop's thread (it never waits for the write lock).
        self._loop_local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._guard = threading.Lock()

    def _connect(self, *, busy_ms: int) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self._path, isolation_level=None, check_same_thread=False, timeout=busy_ms / 1000
        )
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
            "PRAGMA foreign_keys=ON",
            f"PRAGMA busy_timeout={busy_ms}",
        ):
            connection.execute(pragma)
        with self._guard:
            self._opened.append(connection)
        return connection

    def run(self, step: Callable[[Tx], T], *, write: bool) -> T:
        """Run ``step`` in this thread (a writer queues for the write lock)."""
        try:
            connection = self._idle.get_nowait()
        except queue.Empty:
            connection = self._connect(busy_ms=30_000)
        try:
            if write:
                with self._write_lock:
                    return self._transaction(connection, step, write=True)
            return self._transaction(connection, step, write=False)
        finally:
            self._idle.put(connection)

    async def call(self, step: Callable[[Tx], T], *, write: bool) -> T:
        """Run ``step`` here on the event loop, or in a thread when the write lock is taken."""
        lock: Any = self._write_lock
        if not write:
            with contextlib.suppress(WouldBlockError):
                return self._on_loop(step, write=False)
        elif lock.acquire(blocking=False):
            try:
                return self._on_loop(step, write=True)
            except WouldBlockError:
                pass
            finally:
                lock.release()
        return await anyio.to_thread.run_sync(functools.partial(self.run, step, write=write))

    def _on_loop(self, step: Callable[[Tx], T], *, write: bool) -> T:
        connection: sqlite3.Connection | None = getattr(self._loop_local, "connection", None)
        if connection is None:
            connection = self._loop_local.connection = self._connect(busy_ms=0)
        return self._transaction(connection, step, write=write, waiting=False)

    def _transaction(
        self,
        connection: sqlite3.Connection,
        step: Callable[[Tx], T],
        *,
        write: bool,
        waiting: bool = True,
    ) -> T:
        try:
            connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.OperationalError as error:
            if not waiting and _is_locked(error):
                raise WouldBlockError from error
            raise
        tx = _SqliteTx(connection)
        try:
            result = step(tx)
        except BaseException as error:
            if write and _keeps_changes(error):
                connection.execute("COMMIT")
                tx.fire()
            else:
                connection.execute("ROLLBACK")
            if not waiting and isinstance(error, sqlite3.OperationalError) and _is_locked(error):
                raise WouldBlockError from error
            raise
        connection.execute("COMMIT")
        tx.fire()
        return result

    def close(self) -> None:
        """Close every connection this object opened."""
        with self._guard:
            opened, self._opened = self._opened, []
        for connection in opened:
            connection.close()
        self._loop_local = threading.local()
        self._idle = queue.SimpleQueue()


# -- PostgreSQL ---------------------------------------------------------------------------------


@functools.cache
def _pg_sql(sql: str) -> str:
    return _NAMED.sub(r"%(\1)s", sql)


class _PostgresTx(_Callbacks):
    dialect = "postgresql"
    row_lock = " FOR UPDATE"

    def __init__(self, connection: Any, *, locking: bool) -> None:  # noqa: ANN401 - psycopg
        super().__init__()
        self._connection = connection
        self.locking = locking
        self.for_update = " FOR UPDATE" if locking else ""
        self._in_block = False

    def one(self, sql: str, params: Params | None = None) -> Row | None:
        row: Row | None = self._connection.execute(_pg_sql(sql), params or {}).fetchone()
        return row

    def all(self, sql: str, params: Params | None = None) -> list[Row]:
        rows: list[Row] = self._connection.execute(_pg_sql(sql), params or {}).fetchall()
        return rows

    def execute(self, sql: str, params: Params | None = None) -> int:
        return int(self._connection.execute(_pg_sql(sql), params or {}).rowcount)

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        if self.locking or self._in_block:  # already one transaction
            yield
            return
        self._in_block = True
        self._connection.execute("BEGIN")
        try:
            yield
        except BaseException as error:
            self._connection.execute("COMMIT" if _keeps_changes(error) else "ROLLBACK")
            raise
        finally:
            self._in_block = False
        self._connection.execute("COMMIT")

    def time(self, moment: dt.datetime | None) -> object:
        return moment

    def json(self, value: object) -> object:
        return _postgres_json(value)


class PostgresDatabase:
    """One PostgreSQL database; see the module's docstring."""

    dialect = "postgresql"

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._opened: list[Any] = []
        self._guard = threading.Lock()

    def _connection(self) -> Any:  # noqa: ANN401 - psycopg
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            import psycopg  # noqa: PLC0415 - only PostgreSQL deployments need it

            connection = psycopg.connect(self._conninfo, autocommit=True)
            with self._guard:
                self._opened.append(connection)
            return connection

    def run(self, step: Callable[[Tx], T], *, write: bool) -> T:
        """Run ``step`` in this thread: optimistic, then once more locking on a conflict."""
        connection = self._connection()
        healthy = False
        try:
            if not write:
                result = step(_PostgresTx(connection, locking=False))
            else:
                try:
                    result = self._attempt(connection, step, locking=False)
                except ConflictError:
                    result = self._attempt(connection, step, locking=True)
        except BaseException as error:
            healthy = not _broken(connection, error)
            raise
        else:
            healthy = True
        finally:
            self._release(connection, healthy=healthy)
        return result

    def _attempt(self, connection: Any, step: Callable[[Tx], T], *, locking: bool) -> T:  # noqa: ANN401
        tx = _PostgresTx(connection, locking=locking)
        if locking:
            connection.execute("BEGIN")
        try:
            result = step(tx)
        except BaseException as error:
            if locking:
                keep = _keeps_changes(error) and not isinstance(error, ConflictError)
                connection.execute("COMMIT" if keep else "ROLLBACK")
                if keep:
                    tx.fire()
            elif _keeps_changes(error):
                tx.fire()
            raise
        if locking:
            connection.execute("COMMIT")
        tx.fire()
        return result

    def _release(self, connection: Any, *, healthy: bool) -> None:  # noqa: ANN401
        if healthy and not connection.closed:
            self._idle.put(connection)
            return
        with self._guard:
            if connection in self._opened:
                self._opened.remove(connection)
        connection.close()

    async def call(self, step: Callable[[Tx], T], *, write: bool) -> T:
        """Run ``step`` in a worker thread (its round trips must not stall the event loop)."""
        return await anyio.to_thread.run_sync(functools.partial(self.run, step, write=write))

    def close(self) -> None:
        """Close every connection this object opened."""
        with self._guard:
            opened, self._opened = self._opened, []
        for connection in opened:
            connection.close()
        self._idle = queue.SimpleQueue()


def _broken(connection: Any, error: BaseException) -> bool:  # noqa: ANN401
    """Whether ``connection`` must not be used again after ``error`` (else it is rolled back)."""
    import psycopg  # noqa: PLC0415

    if connection.closed or isinstance(error, psycopg.OperationalError):
        return True
    try:
        connection.rollback()  # a no-op when no transaction is open
    except psycopg.Error:
        return True
    return False


class SessionTx(_Callbacks):
    """A :class:`Tx` inside the transaction of an ORM session (which locks what it reads)."""

    locking = True

    def __init__(self, session: Session) -> None:
        super().__init__()
        self._session = session
        self._connection = session.connection()
        self.dialect = self._connection.dialect.name
        self.row_lock = self.for_update = " FOR UPDATE" if self.dialect == "postgresql" else ""

    def _sql(self, sql: str) -> str:
        return _pg_sql(sql) if self.dialect == "postgresql" else sql

    def one(self, sql: str, params: Params | None = None) -> Row | None:
        """See :meth:`Tx.one`."""
        row = self._connection.exec_driver_sql(self._sql(sql), params or {}).fetchone()
        return None if row is None else tuple(row)

    def all(self, sql: str, params: Params | None = None) -> list[Row]:
        """See :meth:`Tx.all`."""
        rows = self._connection.exec_driver_sql(self._sql(sql), params or {}).fetchall()
        return [tuple(row) for row in rows]

    def execute(self, sql: str, params: Params | None = None) -> int:
        """See :meth:`Tx.execute`."""
        return int(self._connection.exec_driver_sql(self._sql(sql), params or {}).rowcount)

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """See :meth:`Tx.atomic`."""
        yield  # the session's transaction holds it all

    def after_commit(self, callback: Callable[[], None]) -> None:
        """See :meth:`Tx.after_commit`."""
        event.listen(self._session, "after_commit", lambda _session: callback(), once=True)

    def time(self, moment: dt.datetime | None) -> object:
        """See :meth:`Tx.time`."""
        return _sqlite_time(moment) if self.dialect == "sqlite" else moment

    def json(self, value: object) -> object:
        """See :meth:`Tx.json`."""
        return json.dumps(value) if self.dialect == "sqlite" else _postgres_json(value)


def open_raw(url: str, *, write_lock: contextlib.AbstractContextManager[object]) -> RawDatabase:
    """The raw database for a SQLAlchemy URL (``sqlite:///path`` or ``postgresql[+psycopg]://``)."""
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database:
            msg = "the hot path needs a SQLite file, not an in-memory database"
            raise ValueError(msg)
        return SqliteDatabase(parsed.database, write_lock=write_lock)
    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    return PostgresDatabase(conninfo)
