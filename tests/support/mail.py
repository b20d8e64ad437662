"""A real SMTP server for tests: the mail catcher on a free loopback port.

``mail_catcher`` is the relay outgoing mail goes to; a test waits for a message with
:meth:`~zorgid.mail.catcher.MailCatcher.wait_for` instead of sleeping. Registered for every test
by ``tests/conftest.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from zorgid.mail.catcher import MailCatcher

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def mail_catcher() -> Iterator[MailCatcher]:
    """A started mail catcher on 127.0.0.1 (port chosen by the system), stopped afterwards."""
    catcher = MailCatcher("127.0.0.1", 0)
    catcher.start()
    try:
        yield catcher
    finally:
        catcher.stop()
