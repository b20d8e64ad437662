"""Telling waiters (a browser's event stream, an app's long poll) that a login changed.

A waiter subscribes *before* it reads the login's state, then waits; a change wakes it. The
notification carries the login id and the state its transaction committed, so a browser's event
stream need not read the database again for every step; the database stays the truth: a waiter
re-reads it whenever it needs more than the state, and on every timeout (the polling safety
net), so a lost notification costs a delay, never a wrong answer. States only move forward.

- :class:`LocalEvents`: one process (SQLite). The change is announced after its commit.
- :class:`PostgresEvents`: any number of nodes on one PostgreSQL. The change is announced with
  ``pg_notify`` inside its own transaction, which PostgreSQL delivers at commit to every node
  listening on the channel, this one included.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import Protocol

CHANNEL = "zorgid_login"
log = logging.getLogger("zorgid.login.events")


class Subscription:
    """A waiter's wake-up flag for one login (lives in the event loop's thread).

    Slotted and small: thousands are held at once (one per open event stream or long poll).
    """

    __slots__ = ("_waiter", "_woken", "state")

    def __init__(self) -> None:
        self._woken = False
        self._waiter: asyncio.Future[bool] | None = None
        #: The state carried by the latest notification ("" when it carried none).
        self.state = ""

    def wake(self, state: str = "") -> None:
        """Mark that something changed (to ``state``, when known)."""
        if state:
            self.state = state
        self._woken = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(True)

    async def wait(self, seconds: float) -> bool:
        """Wait for a change (True) or the timeout (False); then re-arm.

        A bare future and a timer, not ``asyncio.wait_for``: the waiter runs in the loop's
        very next round after the wake-up, which keeps the browser's event prompt under load.
        """
        if not self._woken:
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = loop.call_later(seconds, _time_up, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        woken, self._woken = self._woken, False
        return woken


class _Subscribed:
    """The ``with`` block of :meth:`LocalEvents.subscribe` (a class: no generator to keep)."""

    __slots__ = ("_events", "_login_id", "_subscription")

    def __init__(self, events: LocalEvents, login_id: str) -> None:
        self._events = events
        self._login_id = login_id
        self._subscription = Subscription()

    def __enter__(self) -> Subscription:
        self._events.add(self._login_id, self._subscription)
        return self._subscription

    def __exit__(self, *_exc: object) -> None:
        self._events.discard(self._login_id, self._subscription)


def _time_up(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class LoginEvents(Protocol):
    """Announce changes of logins and wait for them."""

    def notify(self, login_id: str, state: str = "") -> None:
        """Wake this process's waiters of ``login_id`` (from any thread), after the commit."""
        ...

    def subscribe(self, login_id: str) -> contextlib.AbstractContextManager[Subscription]:
        """Register a waiter for ``login_id`` (in the event loop's thread)."""
        ...

    async def start(self) -> None:
        """Start listening (called when the web app starts)."""
        ...

    async def stop(self) -> None:
        """Stop listening."""
        ...


class LocalEvents:
    """Waiters in this process, woken after the changing transaction commits."""

    def __init__(self) -> None:
        # A list per login: mostly one waiter (a browser, an app), rarely a few.
        self._waiters: dict[str, list[Subscription]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Remember the event loop that waiters live in."""
        self._loop = asyncio.get_running_loop()

    async def stop(self) -> None:
        """Nothing to release."""
        self._loop = None

    def subscribe(self, login_id: str) -> contextlib.AbstractContextManager[Subscription]:
        """Register a waiter for ``login_id`` for the duration of the ``with`` block."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return _Subscribed(self, login_id)

    def add(self, login_id: str, subscription: Subscription) -> None:
        """Register ``subscription`` as a waiter for ``login_id`` (see :meth:`subscribe`)."""
        self._waiters.setdefault(login_id, []).append(subscription)

    def discard(self, login_id: str, subscription: Subscription) -> None:
        """No longer wake ``subscription`` for ``login_id``."""
        waiters = self._waiters.get(login_id)
        if waiters is not None and subscription in waiters:
            waiters.remove(subscription)
            if not waiters:
                del self._waiters[login_id]

    def notify(self, login_id: str, state: str = "") -> None:
        """Wake the waiters of ``login_id`` (from any thread)."""
        loop = self._loop
        if loop is None or login_id not in self._waiters:
            return
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is loop:  # a step that ran on the event loop itself: wake now
            self._wake(login_id, state)
            return
        try:
            loop.call_soon_threadsafe(self._wake, login_id, state)
        except RuntimeError:  # the loop has closed: nobody is waiting any more
            return

    def _wake(self, login_id: str, state: str = "") -> None:
        for subscription in self._waiters.get(login_id, ()):
            subscription.wake(state)


class PostgresEvents(LocalEvents):
    """LISTEN/NOTIFY: a change committed on any node wakes the waiters on every node."""

    def __init__(self, conninfo: str) -> None:
        super().__init__()
        self._conninfo = conninfo
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        """Open the listening connection (and keep it open, reconnecting when it drops)."""
        await super().start()
        self._ready = asyncio.Event()
        self._task = asyncio.create_task(self._listen(), name="zorgid-login-listener")
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def stop(self) -> None:
        """Close the listening connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await super().stop()

    async def _listen(self) -> None:
        import asyncpg  # noqa: PLC0415 - only PostgreSQL deployments need the driver

        while True:
            connection = None
            try:
                connection = await asyncpg.connect(self._conninfo)
                lost = asyncio.Event()
                connection.add_termination_listener(functools.partial(_set, lost))
                await connection.add_listener(CHANNEL, self._heard)
                self._ready.set()
                # Changes during a reconnect were not heard: wake everyone to re-read.
                for login_id in list(self._waiters):
                    self._wake(login_id)
                await lost.wait()
                log.warning("login listener lost its connection; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("login listener cannot connect; trying again", exc_info=True)
            finally:
                if connection is not None and not connection.is_closed():
                    connection.terminate()
            await asyncio.sleep(1)

    def _heard(self, _connection: object, _pid: int, _channel: str, payload: object) -> None:
        login_id, _, state = str(payload).partition(" ")
        self._wake(login_id, state)


def _set(flag: asyncio.Event, *_args: object) -> None:
    flag.set()
