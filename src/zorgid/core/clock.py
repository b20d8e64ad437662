"""Time as a collaborator, so that tests can freeze it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    """Something that tells the current time (timezone-aware UTC)."""

    def now(self) -> dt.datetime:
        """Return the current time."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> dt.datetime:
        """Return the current UTC time."""
        return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class FixedClock:
    """A clock stopped at one moment (tests, and ``--at`` verification times)."""

    moment: dt.datetime

    def now(self) -> dt.datetime:
        """Return the fixed moment."""
        return self.moment
