from __future__ import annotations

import contextlib
import datetime as dt
import threading
from typing import TYPE_CHECKING

import pytest

from zorgid.mail.catcher import MailCatcher
from zorgid.mail.compose import compose
from zorgid.mail.errors import MailDeliveryError, MailUnknownError
from zorgid.mail.models import OutboxMessage, OutboxState
from zorgid.mail.outbox import DeliveryCounts, Outbox, OutboxView, OutboxWorker
from zorgid.mail.sender import SmtpSender

if TYPE_CHECKING:
    from collections.abc import Iterator
    from email.message import EmailMessage

    from sqlalchemy.orm import Session

    from tests.support.clock import ManualClock
    from zorgid.bootstrap import Container


class Crash(BaseException):
    """The process dies (nothing after it runs)."""


class CrashingSender:
    def send(self, envelope_from: str, recipient: str, raw: bytes) -> None:
        del envelope_from, recipient, raw
        raise Crash


class FailingSender:
    def __init__(self, detail: str = "relay says no", *, temporary: bool = True) -> None:
        self.detail = detail
        self.temporary = temporary
        self.calls = 0

    def send(self, envelope_from: str, recipient: str, raw: bytes) -> None:
        del envelope_from, recipient, raw
        self.calls += 1
        raise MailDeliveryError(self.detail, temporary=self.temporary)


def _message(subject: str = "Uw aanvraag") -> EmailMessage:
    return compose(
        sender="ZORG-ID <noreply@zorgid.test>",
        recipient="Jan <jan@praktijk.test>",
        subject=subject,
        text="Beste Jan,",
        message_id_domain="zorgid.test",
    )


def _enqueue(container: Container, *subjects: str, topic: str | None = None) -> list[str]:
    with container.unit_of_work() as session:
        outbox = Outbox(session, container.clock)
        return [outbox.enqueue(_message(subject), topic=topic) for subject in subjects]


def _view(container: Container, outbox_id: str) -> OutboxView:
    with container.reading() as session:
        return Outbox(session, container.clock).message(outbox_id)


def _worker(container: Container, sender: object, **options: object) -> OutboxWorker:
    return OutboxWorker(
        unit_of_work=container.unit_of_work,
        clock=container.clock,
        sender=sender,  # type: ignore[arg-type]
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def relay(mail_catcher: MailCatcher) -> SmtpSender:
    return SmtpSender(mail_catcher.host, mail_catcher.port)


class StateChangeFailedError(Exception):
    pass


def _enqueue_then_fail(container: Container) -> None:
    with container.unit_of_work() as session:
        Outbox(session, container.clock).enqueue(_message("teruggedraaid"), topic="r:1")
        msg = "the state change fails after the mail was queued"
        raise StateChangeFailedError(msg)


def test_a_message_is_written_in_the_callers_transaction(container: Container) -> None:
    with pytest.raises(StateChangeFailedError):
        _enqueue_then_fail(container)
    (kept,) = _enqueue(container, "bewaard", topic="r:1")

    with container.reading() as session:
        views = Outbox(session, container.clock).for_topic("r:1")

    assert [view.subject for view in views] == ["bewaard"]
    view = views[0]
    assert view.id == kept
    assert view.recipient == "jan@praktijk.test"
    assert view.state is OutboxState.PENDING
    assert view.attempts == 0
    assert view.created_at == container.clock.now()
    assert view.sent_at is None
    assert view.message_id.endswith("@zorgid.test>")


def test_an_unknown_outbox_id_is_refused(container: Container) -> None:
    with container.reading() as session, pytest.raises(MailUnknownError):
        Outbox(session, container.clock).message("nope")


def test_the_worker_delivers_due_mail_and_marks_it_sent(
    container: Container, relay: SmtpSender, mail_catcher: MailCatcher, clock: ManualClock
) -> None:
    (outbox_id,) = _enqueue(container, "Uw aanvraag")
    clock.advance(5)

    counts = _worker(container, relay).deliver_due()

    assert counts == DeliveryCounts(sent=1)
    view = _view(container, outbox_id)
    assert view.state is OutboxState.SENT
    assert view.sent_at == clock.now()
    assert view.attempts == 1
    caught = mail_catcher.wait_for()
    assert caught.recipients == ("jan@praktijk.test",)
    assert caught.envelope_from == "noreply@zorgid.test"
    assert caught.header("Message-ID") == view.message_id
    assert _worker(container, relay).deliver_due() == DeliveryCounts()


def test_temporary_failures_back_off_exponentially_then_fail(
    container: Container, clock: ManualClock
) -> None:
    (outbox_id,) = _enqueue(container, "Uw aanvraag")
    sender = FailingSender("x" * 2000)
    worker = _worker(
        container,
        sender,
        max_attempts=5,
        first_retry=dt.timedelta(seconds=30),
        max_retry=dt.timedelta(seconds=100),
    )
    waits = []
    for _ in range(4):
        assert worker.deliver_due() == DeliveryCounts(retried=1)
        wait = (_next_attempt(container, outbox_id) - clock.now()).total_seconds()
        waits.append(wait)
        clock.advance(wait - 1)
        assert worker.deliver_due() == DeliveryCounts()  # not due yet
        clock.advance(1)

    assert waits == [30, 60, 100, 100]
    assert worker.deliver_due() == DeliveryCounts(failed=1)
    view = _view(container, outbox_id)
    assert view.state is OutboxState.FAILED
    assert view.attempts == 5
    assert view.last_error == "x" * 500
    assert sender.calls == 5
    clock.advance(3600)
    assert worker.deliver_due() == DeliveryCounts()


def _next_attempt(container: Container, outbox_id: str) -> dt.datetime:
    # The one column an OutboxView leaves out.
    with container.reading() as session:
        row = session.get(OutboxMessage, outbox_id)
        assert row is not None
        return row.next_attempt_at


def test_a_permanent_refusal_fails_the_message_at_once(container: Container) -> None:
    (outbox_id,) = _enqueue(container, "Uw aanvraag")

    counts = _worker(container, FailingSender("550 no such user", temporary=False)).deliver_due()

    assert counts == DeliveryCounts(failed=1)
    view = _view(container, outbox_id)
    assert view.state is OutboxState.FAILED
    assert view.last_error == "550 no such user"


def test_a_relay_that_is_down_keeps_the_message_for_later(
    container: Container, mail_catcher: MailCatcher, clock: ManualClock
) -> None:
    (outbox_id,) = _enqueue(container, "Uw aanvraag")
    down = MailCatcher()
    down.start()
    down.stop()

    assert _worker(container, SmtpSender("127.0.0.1", down.port)).deliver_due().retried == 1
    assert _view(container, outbox_id).state is OutboxState.PENDING
    clock.advance(30)
    relay = SmtpSender(mail_catcher.host, mail_catcher.port)
    assert _worker(container, relay).deliver_due() == DeliveryCounts(sent=1)
    assert len(mail_catcher.messages()) == 1


def test_a_worker_that_dies_after_claiming_leaves_the_message_to_another(
    container: Container, relay: SmtpSender, mail_catcher: MailCatcher, clock: ManualClock
) -> None:
    (outbox_id,) = _enqueue(container, "Uw aanvraag")
    with pytest.raises(Crash):
        _worker(container, CrashingSender()).deliver_due()

    survivor = _worker(container, relay, lease=dt.timedelta(minutes=5))
    assert survivor.deliver_due() == DeliveryCounts()  # the claim still holds
    clock.advance(5 * 60 + 1)
    assert survivor.deliver_due() == DeliveryCounts(sent=1)

    assert _view(container, outbox_id).state is OutboxState.SENT
    assert len(mail_catcher.messages()) == 1


def test_concurrent_workers_send_each_message_exactly_once(
    container: Container, relay: SmtpSender, mail_catcher: MailCatcher
) -> None:
    subjects = [f"bericht {n}" for n in range(12)]
    _enqueue(container, *subjects)
    workers = 4
    start = threading.Barrier(workers)
    totals: list[DeliveryCounts] = []

    def work() -> None:
        worker = _worker(container, relay, batch=len(subjects))
        start.wait()
        totals.append(worker.deliver_due())

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(total.sent for total in totals) == len(subjects)
    caught = mail_catcher.messages()
    assert sorted(message.subject for message in caught) == sorted(subjects)
    assert len({message.header("Message-ID") for message in caught}) == len(subjects)


@contextlib.contextmanager
def running(worker: OutboxWorker, **options: object) -> Iterator[threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), kwargs=options)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        worker.wake()
        thread.join(timeout=30)
    assert not thread.is_alive()


def test_a_nudged_worker_sends_without_waiting_for_its_poll(
    container: Container, relay: SmtpSender, mail_catcher: MailCatcher
) -> None:
    worker = _worker(container, relay)
    with running(worker, poll_seconds=3600):
        _enqueue(container, "meteen")
        worker.wake()
        caught = mail_catcher.wait_for(lambda m: m.subject == "meteen")

    assert caught.text == "Beste Jan,\n"


def test_the_worker_survives_a_failing_round(
    container: Container, relay: SmtpSender, mail_catcher: MailCatcher
) -> None:
    failed_once = threading.Event()

    @contextlib.contextmanager
    def flaky_unit_of_work() -> Iterator[Session]:
        if not failed_once.is_set():
            failed_once.set()
            msg = "database restarting"
            raise ConnectionError(msg)
        with container.unit_of_work() as session:
            yield session

    wake = threading.Event()
    worker = OutboxWorker(unit_of_work=flaky_unit_of_work, clock=container.clock, sender=relay)
    with running(worker, poll_seconds=3600, wake=wake):
        assert failed_once.wait(10)
        _enqueue(container, "toch verstuurd")
        wake.set()
        caught = mail_catcher.wait_for(lambda m: m.subject == "toch verstuurd")

    assert caught.recipients == ("jan@praktijk.test",)
