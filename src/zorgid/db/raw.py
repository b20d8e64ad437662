"""Plain database access for the steps on every login's path: no ORM, no SQL compilation.

A login step is a coroutine function of a :class:`Tx`. SQL is written once, with ``:name``
placeholders; each driver gets its own flavour (sqlite3 takes them as they are, asyncpg gets
``$1, $2, ...``), and the few places where the two databases differ are methods of :class:`Tx`
(times, JSON, row locks).

How a step runs (:meth:`RawDatabase.call`):

- **SQLite** (sqlite3): the whole step is one transaction (``BEGIN IMMEDIATE`` when it writes,
  so it holds the only write lock from the start; a plain ``BEGIN`` snapshot when it reads). A
  local step takes microseconds, so it runs right there on the event loop, on a connection that
  never waits for the lock; when another writer holds it, the step runs in a worker thread that
  queues for it. SQLite's :class:`Tx` never suspends, so its steps are driven to their end
  without the event loop (:func:`drive`), which also proves that no other step can slip in.
- **PostgreSQL** (asyncpg, on the event loop: no thread per step). Optimistic first: reads do
  not lock and single statements commit on their own (one round trip each); a change is a
  compare-and-set ``UPDATE ... WHERE <what was read>``, and changes that belong together go in
  :meth:`Tx.atomic`. When a compare-and-set finds the row changed (:class:`ConflictError`),
  everything of that attempt is rolled back and the step runs once more, locking: one
  transaction around it, reads ``FOR UPDATE``. So a race costs a retry, never a wrong answer.

A refusal that ``keeps_changes`` (an attempt counted) commits what the step wrote, like the
ORM's unit of work (:meth:`zorgid.bootstrap.Container.unit_of_work`). The same steps also run
inside an ORM transaction (:class:`SessionTx`), which is how the ORM services share the PIN
check, the profile and the audit log with the login path.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import json
import queue
import re
import socket
import sqlite3
import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypeVar

import anyio.to_thread
from sqlalchemy import event

from zorgid.db.engine import SQLITE_CACHE_SIZE

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Coroutine, Sequence

    import asyncpg
    from asyncpg.pool import PoolConnectionProxy
    from sqlalchemy.orm import Session

    PgConnection = asyncpg.Connection[Any] | PoolConnectionProxy[Any]

T = TypeVar("T")
Params = dict[str, Any]
Row = tuple[Any, ...]
#: More queries of a statement of :func:`together`: (name, query).
Then: TypeAlias = "Sequence[tuple[str, str]]"
_NAMED = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


class ConflictError(Exception):
    """A compare-and-set found its row changed since it was read: run the step again, locking."""


class WouldBlockError(Exception):
    """SQLite's write lock is held elsewhere: run the step in a thread that may wait for it."""


@dataclass(frozen=True)
class Change:
    """A change of one row: an ``INSERT``, or an ``UPDATE ... WHERE`` the row is as it was read.

    ``notify`` is a PostgreSQL ``NOTIFY`` (channel, payload) that goes out once the change
    commits; ``on_commit`` is called instead where there is none (SQLite, in one process).
    """

    sql: str
    params: Params  # moments as aware datetimes: each database gets them in its form
    notify: tuple[str, str] | None = None
    on_commit: Callable[[], None] | None = None

    def values(self, tx: Tx) -> Params:
        """The parameters as ``tx`` takes them."""
        return {
            key: tx.time(value) if isinstance(value, dt.datetime) else value
            for key, value in self.params.items()
        }


class Tx(Protocol):
    """What a step may do with the database."""

    #: True when reads lock what they read (then a compare-and-set cannot fail).
    locking: bool
    #: The clause that locks the rows a query reads when this attempt locks (else "").
    for_update: str
    #: The clause that always locks what a query reads (a chain's head, say), or "".
    row_lock: str
    #: ``sqlite`` or ``postgresql``.
    dialect: str
    #: True when changes that belong together can go as one statement (:func:`together`).
    fuses: bool

    async def one(self, sql: str, params: Params | None = None) -> Row | None:
        """The first row of a query, or None."""
        ...

    async def all(self, sql: str, params: Params | None = None) -> list[Row]:
        """All rows of a query."""
        ...

    async def execute(self, sql: str, params: Params | None = None) -> int:
        """Run a change; how many rows it changed."""
        ...

    def atomic(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Changes in this block commit together or not at all."""
        ...

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the step's changes are committed."""
        ...

    def time(self, moment: dt.datetime | None) -> object:
        """A UTC moment as this database stores it."""
        ...

    def json(self, value: object) -> object:
        """A JSON value as this database takes it."""
        ...


def drive(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (a step on SQLite or in an ORM session) to its end."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    msg = "a database step suspended where the database never waits"
    raise RuntimeError(msg)


async def apply(tx: Tx, changes: Sequence[Change]) -> None:
    """Make each change in turn (inside ``tx.atomic()`` when there are several).

    :class:`ConflictError` when one does not find its row as it was read.
    """
    for change in changes:
        notified = change.notify is not None and tx.dialect == "postgresql"
        if notified:
            # NOTIFY in the same statement: delivered to every node once it commits.
            channel, payload = change.notify or ("", "")
            changed = len(
                await tx.all(
                    f"WITH changed AS ({change.sql} RETURNING 1) "
                    "SELECT pg_notify(:notify_channel, :notify_payload) FROM changed",
                    {**change.values(tx), "notify_channel": channel, "notify_payload": payload},
                )
            )
        else:
            changed = await tx.execute(change.sql, change.values(tx))
        if changed != 1:
            raise ConflictError(change.sql.split(" WHERE ", 1)[0])
        # Only a change made is announced (a caller may go on after a ConflictError).
        if change.on_commit is not None and not notified:
            tx.after_commit(change.on_commit)


async def together(
    tx: Tx, changes: Sequence[Change], then: Then = (), params: Params | None = None
) -> Row:
    """Make ``changes`` and then the ``then`` queries in one statement: all of it, or nothing.

    Only where ``tx.fuses`` (PostgreSQL). ``then`` are more ``WITH`` queries (name, query)
    after the changes: they may use ``ok`` (one row once every change found its row), and the
    last one must give exactly one row (a row it changed, say), which is returned. When a
    change or that last query finds no row the statement fails as a whole:
    :class:`ConflictError`.
    """
    if not isinstance(tx, _PostgresTx):
        msg = "only PostgreSQL makes changes in one statement"
        raise TypeError(msg)
    return await tx.together(changes, then, params or {})


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

    async def call(self, step: Callable[[Tx], Coroutine[Any, Any, T]], *, write: bool) -> T:
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
    fuses = False

    def __init__(self, connection: sqlite3.Connection) -> None:
        super().__init__()
        self._connection = connection

    async def one(self, sql: str, params: Params | None = None) -> Row | None:
        row: Row | None = self._connection.execute(sql, params or {}).fetchone()
        return row

    async def all(self, sql: str, params: Params | None = None) -> list[Row]:
        return self._connection.execute(sql, params or {}).fetchall()

    async def execute(self, sql: str, params: Params | None = None) -> int:
        return self._connection.execute(sql, params or {}).rowcount

    @contextlib.asynccontextmanager
    async def atomic(self) -> AsyncIterator[None]:
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
            SQLITE_CACHE_SIZE,
        ):
            connection.execute(pragma)
        with self._guard:
            self._opened.append(connection)
        return connection

    async def call(self, step: Callable[[Tx], Coroutine[Any, Any, T]], *, write: bool) -> T:
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
        return await anyio.to_thread.run_sync(functools.partial(self._in_thread, step, write=write))

    def _on_loop(self, step: Callable[[Tx], Coroutine[Any, Any, T]], *, write: bool) -> T:
        connection: sqlite3.Connection | None = getattr(self._loop_local, "connection", None)
        if connection is None:
            connection = self._loop_local.connection = self._connect(busy_ms=0)
        return self._transaction(connection, step, write=write, waiting=False)

    def _in_thread(self, step: Callable[[Tx], Coroutine[Any, Any, T]], *, write: bool) -> T:
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

    def _transaction(
        self,
        connection: sqlite3.Connection,
        step: Callable[[Tx], Coroutine[Any, Any, T]],
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
            result = drive(step(tx))
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
def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """``sql`` with ``$1, $2, ...`` for its ``:names``, and the names in that order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _NAMED.sub(number, sql), tuple(names)


def _arguments(sql: str, params: Params | None) -> tuple[str, list[Any]]:
    numbered, names = _numbered(sql)
    values = params or {}
    return numbered, [values[name] for name in names]


def _count(status: str) -> int:
    """The row count of a command status such as ``UPDATE 1`` or ``INSERT 0 1``."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


#: What a statement of :meth:`_PostgresTx.together` fails with when a part of it found no row:
#: a text that is no integer, cast to one (no function needed in the schema; not a constant,
#: so PostgreSQL evaluates it only when it runs).
_NO_ROW = "zorgid: a row changed since it was read"


class _PostgresTx(_Callbacks):
    dialect = "postgresql"
    row_lock = " FOR UPDATE"
    fuses = True

    def __init__(self, connection: PgConnection, *, locking: bool) -> None:
        super().__init__()
        self._connection = connection
        self.locking = locking
        self.for_update = " FOR UPDATE" if locking else ""
        self._in_block = False

    async def one(self, sql: str, params: Params | None = None) -> Row | None:
        query, arguments = _arguments(sql, params)
        record = await self._connection.fetchrow(query, *arguments)
        return None if record is None else tuple(record)

    async def all(self, sql: str, params: Params | None = None) -> list[Row]:
        query, arguments = _arguments(sql, params)
        return [tuple(record) for record in await self._connection.fetch(query, *arguments)]

    async def execute(self, sql: str, params: Params | None = None) -> int:
        query, arguments = _arguments(sql, params)
        return _count(await self._connection.execute(query, *arguments))

    async def together(self, changes: Sequence[Change], then: Then, params: Params) -> Row:
        """See :func:`together`."""
        import asyncpg  # noqa: PLC0415 - only PostgreSQL deployments need it

        parts: list[str] = []
        values: Params = {}
        notify: list[str] = []
        for number, change in enumerate(changes):
            name = f"c{number}"
            renamed = _NAMED.sub(f":{name}_\\1", change.sql)
            parts.append(f"{name} AS ({renamed} RETURNING 1)")
            values.update({f"{name}_{key}": value for key, value in change.values(self).items()})
            if change.notify is not None:  # n<i>_: no change's own parameter is named so
                values[f"n{number}_channel"], values[f"n{number}_payload"] = change.notify
                notify.append(f", pg_notify(:n{number}_channel, :n{number}_payload)")
        every = " AND ".join(f"EXISTS (SELECT 1 FROM c{n})" for n in range(len(changes)))
        parts.append(f"ok AS (SELECT 1 AS ok WHERE {every or 'TRUE'})")
        parts.extend(f"{name} AS ({query})" for name, query in then)
        last = then[-1][0] if then else "ok"
        # One row always (a LEFT JOIN on a one-row table): the cast fails when ``last`` is
        # empty, and the whole statement with it.
        sql = (
            f"WITH {', '.join(parts)} "
            f"SELECT CAST(CASE WHEN (SELECT count(*) FROM {last}) = 1 THEN '1' "
            f"ELSE '{_NO_ROW}' END AS integer), {last}.*{''.join(notify)} "
            f"FROM (VALUES (1)) AS one (x) LEFT OUTER JOIN {last} ON TRUE"
        )
        try:
            row = await self.one(sql, {**values, **params})
        except asyncpg.InvalidTextRepresentationError as error:
            if _NO_ROW not in str(error):
                raise
            raise ConflictError(", ".join(c.sql.split(" WHERE ", 1)[0] for c in changes)) from None
        if row is None:  # pragma: no cover - the statement always gives one row
            raise ConflictError(last)
        for change in changes:
            if change.on_commit is not None and change.notify is None:
                self.after_commit(change.on_commit)
        return row[1 : len(row) - len(notify)]

    @contextlib.asynccontextmanager
    async def atomic(self) -> AsyncIterator[None]:
        if self.locking or self._in_block:  # already one transaction
            yield
            return
        self._in_block = True
        await self._connection.execute("BEGIN")
        try:
            yield
        except BaseException as error:
            await self._connection.execute("COMMIT" if _keeps_changes(error) else "ROLLBACK")
            raise
        finally:
            self._in_block = False
        await self._connection.execute("COMMIT")

    def time(self, moment: dt.datetime | None) -> object:
        return moment

    def json(self, value: object) -> object:
        return json.dumps(value)  # asyncpg takes json as text


class PostgresDatabase:
    """One PostgreSQL database; see the module's docstring.

    Connections come from asyncpg's pool, at most ``pool_size`` of them per event loop (a
    service has one loop; tests and tools may run several, and asyncpg ties a connection to
    the loop that opened it). A step that finds them all busy waits for one.
    """

    dialect = "postgresql"

    def __init__(self, dsn: str, *, pool_size: int = 20) -> None:
        self._dsn = dsn
        self._size = pool_size
        self._pools: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Future[asyncpg.Pool]
        ] = weakref.WeakKeyDictionary()
        self._opened: list[tuple[asyncio.AbstractEventLoop, asyncpg.Pool]] = []
        self._guard = threading.Lock()

    async def _pool(self) -> asyncpg.Pool:
        import asyncpg  # noqa: PLC0415 - only PostgreSQL deployments need it

        loop = asyncio.get_running_loop()
        made = self._pools.get(loop)
        if made is not None and made.done():
            return made.result()
        if made is None:
            made = self._pools[loop] = loop.create_future()
            try:
                pool = await asyncpg.create_pool(
                    self._dsn, min_size=0, max_size=self._size, reset=_keep_session
                )
            except BaseException as error:
                del self._pools[loop]
                made.set_exception(error)
                made.exception()  # retrieved: the next step tries again
                raise
            made.set_result(pool)
            with self._guard:
                self._opened.append((loop, pool))
        return await asyncio.shield(made)

    async def call(self, step: Callable[[Tx], Coroutine[Any, Any, T]], *, write: bool) -> T:
        """Run ``step``: optimistic, then once more locking on a conflict."""
        import asyncpg  # noqa: PLC0415 - only PostgreSQL deployments need it

        pool = await self._pool()
        async with pool.acquire() as connection:
            try:
                if not write:
                    return await step(_PostgresTx(connection, locking=False))
                try:
                    return await self._attempt(connection, step, locking=False)
                except ConflictError:
                    return await self._attempt(connection, step, locking=True)
            finally:
                if connection.is_in_transaction():  # a step broken off half-way
                    # Best effort: if this fails too, the pool's own reset rolls back or
                    # drops the connection.
                    with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError):
                        await connection.execute("ROLLBACK")

    async def _attempt(
        self,
        connection: PgConnection,
        step: Callable[[Tx], Coroutine[Any, Any, T]],
        *,
        locking: bool,
    ) -> T:
        tx = _PostgresTx(connection, locking=locking)
        if locking:
            await connection.execute("BEGIN")
        try:
            result = await step(tx)
        except BaseException as error:
            keep = _keeps_changes(error) and not isinstance(error, ConflictError)
            if locking:
                await connection.execute("COMMIT" if keep else "ROLLBACK")
            if keep:
                tx.fire()
            raise
        if locking:
            await connection.execute("COMMIT")
        tx.fire()
        return result

    def close(self) -> None:
        """Close every connection this object opened (on whichever loop it lives)."""
        with self._guard:
            opened, self._opened = self._opened, []
        self._pools = weakref.WeakKeyDictionary()
        for loop, pool in opened:
            if loop.is_closed():
                for holder in getattr(pool, "_holders", ()):
                    connection = getattr(holder, "_con", None)
                    if connection is not None and not connection.is_closed():
                        _close_socket(connection)
            elif loop.is_running():
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(pool.terminate)
            else:
                with contextlib.suppress(RuntimeError):
                    pool.terminate()


async def _keep_session(_connection: asyncpg.Connection) -> None:
    """Hand a connection back as it is (asyncpg's reset costs a round trip per step).

    Steps leave no session state behind; an open transaction is rolled back before release.
    """


def _close_socket(connection: asyncpg.Connection) -> None:
    """Close the socket of a connection whose event loop has ended (its transport cannot)."""
    transport = getattr(connection, "_transport", None)
    wrapped = transport.get_extra_info("socket") if transport is not None else None
    sock = getattr(wrapped, "_sock", None)  # asyncio's TransportSocket wraps the real one
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.close()


# -- inside an ORM transaction ------------------------------------------------------------------


class SessionTx(_Callbacks):
    """A :class:`Tx` inside the transaction of an ORM session (which locks what it reads).

    Its coroutines never suspend: run a step on it with :func:`drive`.
    """

    locking = True
    fuses = False

    def __init__(self, session: Session) -> None:
        super().__init__()
        self._session = session
        self._connection = session.connection()
        self.dialect = self._connection.dialect.name
        self.row_lock = self.for_update = " FOR UPDATE" if self.dialect == "postgresql" else ""

    def _sql(self, sql: str) -> str:
        # psycopg's named style, through SQLAlchemy's connection as it is.
        return _NAMED.sub(r"%(\1)s", sql) if self.dialect == "postgresql" else sql

    async def one(self, sql: str, params: Params | None = None) -> Row | None:
        """See :meth:`Tx.one`."""
        row = self._connection.exec_driver_sql(self._sql(sql), params or {}).fetchone()
        return None if row is None else tuple(row)

    async def all(self, sql: str, params: Params | None = None) -> list[Row]:
        """See :meth:`Tx.all`."""
        rows = self._connection.exec_driver_sql(self._sql(sql), params or {}).fetchall()
        return [tuple(row) for row in rows]

    async def execute(self, sql: str, params: Params | None = None) -> int:
        """See :meth:`Tx.execute`."""
        return int(self._connection.exec_driver_sql(self._sql(sql), params or {}).rowcount)

    @contextlib.asynccontextmanager
    async def atomic(self) -> AsyncIterator[None]:
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
        if self.dialect == "sqlite":
            return json.dumps(value)
        from psycopg.types.json import Json  # noqa: PLC0415 - the ORM's driver on PostgreSQL

        return Json(value)


def open_raw(url: str, *, write_lock: contextlib.AbstractContextManager[object]) -> RawDatabase:
    """The raw database for a SQLAlchemy URL (``sqlite:///path`` or ``postgresql[+psycopg]://``)."""
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database:
            msg = "the login path needs a SQLite file, not an in-memory database"
            raise ValueError(msg)
        return SqliteDatabase(parsed.database, write_lock=write_lock)
    return PostgresDatabase(plain_dsn(url))


def plain_dsn(url: str) -> str:
    """A PostgreSQL URL as libpq and asyncpg take it (SQLAlchemy's driver name taken out)."""
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
