"""The one thing tests fake: time. A clock that stands still until a test moves it."""

from __future__ import annotations

import datetime as dt
import threading

#: Where every ManualClock starts unless told otherwise: a fixed, timezone-aware UTC moment.
START = dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)


class ManualClock:
    """A :class:`zorgid.core.clock.Clock` that moves only when :meth:`advance` is called."""

    def __init__(self, start: dt.datetime = START) -> None:
        if start.tzinfo is None:
            msg = "a ManualClock keeps aware UTC times"
            raise ValueError(msg)
        self._now = start
        # Race tests read the clock from many threads while the test thread may move it.
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        """The current (test) time."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> dt.datetime:
        """Move time forward by ``seconds`` and return the new moment."""
        if seconds < 0:
            msg = "time only moves forward"
            raise ValueError(msg)
        with self._lock:
            self._now += dt.timedelta(seconds=seconds)
            return self._now
