"""An audit log with a real sequence of events, written by the services."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.support.identity import write_story

if TYPE_CHECKING:
    from zorgid.bootstrap import Container


@pytest.fixture
def story(container: Container) -> Container:
    """The container after :func:`tests.support.identity.write_story`."""
    write_story(container)
    return container
