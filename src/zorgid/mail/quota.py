"""Daily quotas on e-mail the public can cause, counted in the caller's transaction.

Counted in the database (so on every node and after a restart) and exact under concurrency.
A quota is a row per key and day (UTC) with a count. :meth:`MailQuota.take` makes the row if it
is missing (``INSERT ... ON CONFLICT DO NOTHING``) and then raises the count with one
conditional ``UPDATE ... SET count = count + 1 WHERE count < limit``. The update is the whole
decision: on PostgreSQL a second transaction's update waits for the first's row lock and then
judges the row as the first left it (READ COMMITTED re-checks the condition), on SQLite writers
take turns; so N submissions at once for one address get exactly ``limit`` yeses. The count
commits or rolls back with the caller's transaction, together with the outbox row it allows:
a refused or failed request uses up nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import TYPE_CHECKING

from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from zorgid.db.base import table
from zorgid.mail.models import MailQuota as QuotaRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from zorgid.core.clock import Clock

_QUOTA = table(QuotaRow)
#: How long counts of past days are kept (for questions about a day that just ended).
KEEP_DAYS = 2


def quota_key(kind: str, value: str) -> str:
    """The row key for ``value`` (an address, a URA) of ``kind``: the value itself is hashed."""
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()
    return f"{kind[:15]}:{digest}"


class MailQuota:
    """Daily counts in the caller's session."""

    def __init__(self, session: Session, clock: Clock) -> None:
        self._session = session
        self._clock = clock

    def take(self, kind: str, value: str, limit: int) -> bool:
        """Count one more for ``value`` today; False (nothing counted) if ``limit`` is reached.

        A ``limit`` of 0 means no limit: nothing is counted.
        """
        if limit <= 0:
            return True
        key = quota_key(kind, value)
        day = self._clock.now().astimezone(dt.UTC).date()
        dialect = self._session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        self._session.execute(
            insert(_QUOTA).values(key=key, day=day, count=0).on_conflict_do_nothing()
        )
        raised = self._session.execute(
            update(_QUOTA)
            .where(_QUOTA.c.key == key, _QUOTA.c.day == day, _QUOTA.c.count < limit)
            .values(count=_QUOTA.c.count + 1)
        )
        return bool(raised.rowcount == 1)  # type: ignore[attr-defined]

    def purge(self) -> int:
        """Forget the counts of days before yesterday."""
        before = self._clock.now().astimezone(dt.UTC).date() - dt.timedelta(days=KEEP_DAYS - 1)
        deleted = self._session.execute(delete(_QUOTA).where(_QUOTA.c.day < before))
        return int(deleted.rowcount)  # type: ignore[attr-defined]
