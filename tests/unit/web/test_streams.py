"""zorgid.web.streams against a fake ASGI server: what is sent, and what is let go in every path."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from zorgid.login.events import LocalEvents
from zorgid.web.streams import ClientWatch, EventStream

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from starlette.types import Message

HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


class Server:
    """An ASGI server's side of one request: what the app sent, and a client that can leave."""

    def __init__(self, *, refuse: bool = False) -> None:
        self.sent: list[Message] = []
        self.refuse = refuse
        self.messages: asyncio.Queue[Message] = asyncio.Queue()
        self.receiving = 0

    async def receive(self) -> Message:
        self.receiving += 1
        try:
            return await self.messages.get()
        finally:
            self.receiving -= 1

    async def send(self, message: Message) -> None:
        if self.refuse:
            raise OSError("connection reset")
        self.sent.append(message)


def test_the_stream_sends_its_chunks_as_they_come_and_then_closes() -> None:
    closed: list[str] = []

    async def events() -> AsyncGenerator[bytes, None]:
        try:
            yield b"retry: 2000\n\n"
            yield b"event: state\ndata: {}\n\n"
        finally:
            closed.append("events")

    async def run() -> Server:
        server = Server()
        stream = EventStream(events(), headers=HEADERS, on_close=lambda: closed.append("close"))
        await stream({"type": "http"}, server.receive, server.send)
        return server

    server = asyncio.run(run())
    assert server.sent == [
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"cache-control", b"no-store"),
                (b"x-accel-buffering", b"no"),
                (b"content-type", b"text/event-stream; charset=utf-8"),
            ],
        },
        {"type": "http.response.body", "body": b"retry: 2000\n\n", "more_body": True},
        {"type": "http.response.body", "body": b"event: state\ndata: {}\n\n", "more_body": True},
        {"type": "http.response.body", "body": b"", "more_body": False},
    ]
    assert closed == ["events", "close"]


def test_a_stream_that_never_starts_still_closes() -> None:
    closed: list[str] = []
    started: list[bool] = []

    async def events() -> AsyncGenerator[bytes, None]:
        started.append(True)
        yield b"retry: 2000\n\n"

    async def run() -> None:
        server = Server(refuse=True)
        stream = EventStream(events(), headers=HEADERS, on_close=lambda: closed.append("close"))
        await stream({"type": "http"}, server.receive, server.send)

    with pytest.raises(OSError, match="connection reset"):
        asyncio.run(run())
    assert started == []
    assert closed == ["close"]


def test_a_client_that_leaves_wakes_the_waiter_at_once_and_unread_body_is_skipped() -> None:
    async def run() -> tuple[bool, bool, float]:
        events = LocalEvents()
        server = Server()
        with (
            events.subscribe("L") as subscription,
            ClientWatch(server.receive, subscription.wake) as client,
        ):
            server.messages.put_nowait({"type": "http.request", "body": b"x", "more_body": True})
            server.messages.put_nowait({"type": "http.request", "body": b"", "more_body": False})
            waiting = asyncio.get_running_loop().call_later(
                0.05, server.messages.put_nowait, {"type": "http.disconnect"}
            )
            started = asyncio.get_running_loop().time()
            woken = await subscription.wait(10)
            waiting.cancel()
            return woken, client.gone, asyncio.get_running_loop().time() - started

    woken, gone, waited = asyncio.run(run())
    assert woken
    assert gone
    assert waited < 1


def test_the_watch_stops_listening_when_its_block_ends() -> None:
    async def run() -> tuple[int, int, bool]:
        server = Server()
        woken: list[bool] = []
        with ClientWatch(server.receive, lambda: woken.append(True)) as client:
            await asyncio.sleep(0)  # the watch now waits in receive()
            during = server.receiving
        await asyncio.sleep(0)  # its cancellation is delivered
        await asyncio.sleep(0)
        server.messages.put_nowait({"type": "http.disconnect"})  # nobody listens any more
        await asyncio.sleep(0)
        return during, server.receiving, client.gone or bool(woken)

    during, after, heard = asyncio.run(run())
    assert during == 1
    assert after == 0
    assert not heard


def test_a_receive_that_fails_counts_as_a_client_gone_and_wakes_the_waiter() -> None:
    async def broken() -> Message:
        raise OSError("connection reset by peer")

    async def run() -> tuple[bool, bool]:
        events = LocalEvents()
        with (
            events.subscribe("L") as subscription,
            ClientWatch(broken, subscription.wake) as client,
        ):
            woken = await subscription.wait(10)
            return woken, client.gone

    assert asyncio.run(run()) == (True, True)
