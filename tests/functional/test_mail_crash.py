"""The transactional outbox survives a crash: a ``zorgid serve`` process commits a registration
(state change and request mail together) and is killed (SIGKILL) before any SMTP delivery; after
a restart — two nodes at once, both delivering — the mail reaches the mailbox exactly once.
"""

from __future__ import annotations

import datetime as dt
import signal
import time
from typing import TYPE_CHECKING

from sqlalchemy import select

from tests.support.registration import FORM, add_application, demo_certificates, trust_settings
from tests.support.server import Browser, free_port, start_serve
from tests.support.site import submit_form
from zorgid.bootstrap import build
from zorgid.mail.catcher import MailCatcher
from zorgid.mail.models import OutboxMessage, OutboxState
from zorgid.registration.models import RegistrationRequest
from zorgid.registration.states import RegistrationState
from zorgid.settings import Settings

if TYPE_CHECKING:
    import subprocess
    from pathlib import Path

    from zorgid.bootstrap import Container


def outbox(container: Container) -> list[tuple[OutboxState, int]]:
    with container.reading() as session:
        return [(row.state, row.attempts) for row in session.scalars(select(OutboxMessage)).all()]


def test_mail_queued_before_a_crash_is_delivered_once_after_the_restart(
    tmp_path: Path, database_url: str
) -> None:
    pki, _, _ = demo_certificates(dt.datetime.now(dt.UTC))
    trust = trust_settings(pki, tmp_path)
    container = build(
        Settings(
            data_dir=tmp_path,
            database_url=database_url,
            trust_anchors=trust["trust_anchors"],
            crl_files=trust["crl_files"],
        ),
        create_keys=True,
    )
    add_application(container)
    mailbox = MailCatcher("127.0.0.1", 0)
    env = {
        "ZORGID_DATABASE_URL": database_url,
        "ZORGID_DATA_DIR": str(tmp_path),
        "ZORGID_LOG_LEVEL": "warning",
        "ZORGID_TRUST_ANCHORS": trust["trust_anchors"],
        "ZORGID_CRL_FILES": trust["crl_files"],
    }
    # The first node commits the request with its mail, but dies before delivering it.
    port = free_port()
    crashing = start_serve({**env, "ZORGID_MAIL_WORKER": "false"}, port)
    try:
        number = submit_form(Browser(f"http://127.0.0.1:{port}"))
    finally:
        crashing.send_signal(signal.SIGKILL)
        crashing.communicate(timeout=20)
    with container.reading() as session:
        state = session.scalars(
            select(RegistrationRequest.state).where(RegistrationRequest.number == number)
        ).one()
    assert state is RegistrationState.AWAITING_DOCUMENT
    assert outbox(container) == [(OutboxState.PENDING, 0)]

    # Two nodes come back; both run an outbox worker against the mailbox.
    mailbox.start()
    nodes: list[subprocess.Popen[str]] = []
    try:
        nodes.extend(
            start_serve({**env, "ZORGID_SMTP_PORT": str(mailbox.port)}, free_port())
            for _ in range(2)
        )
        delivered = mailbox.wait_for(lambda m: number in m.subject, timeout=30)
        deadline = time.monotonic() + 30
        while outbox(container) != [(OutboxState.SENT, 1)] and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2)  # more than one worker poll: a second delivery would have happened by now
    finally:
        for node in nodes:
            node.terminate()
            node.communicate(timeout=20)
        mailbox.stop()
        container.close()

    assert FORM.technical_email in delivered.recipients
    assert [m.subject for m in mailbox.messages()] == [delivered.subject]
    assert outbox(container) == [(OutboxState.SENT, 1)]
