"""The login's two long requests (a browser's event stream, an app's long poll) on plain asyncio.

Starlette's tools for them cost more CPU than the waiting itself: ``request.is_disconnected()``
polls ``receive`` inside an anyio cancel scope whose cancellation formats the task's repr (all
its callbacks) on every call, and ``StreamingResponse`` runs an anyio task group with a second
task listening for the disconnect. Here one task per request waits in ``receive()`` and wakes
the request's :class:`~zorgid.login.events.Subscription` when the client goes away, and the
event stream sends its chunks itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Self

from starlette.responses import Response

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable, Mapping
    from types import TracebackType

    from starlette.types import Receive, Scope, Send

log = logging.getLogger("zorgid.web.streams")


class ClientWatch:
    """Tells (:attr:`gone`) and wakes a waiter at once when the client of a request goes away.

    Once a request's body has been read, the server answers ``receive()`` only when the client
    disconnects (uvicorn also when the response has been sent; ASGI spec), so one task waiting
    there learns it without polling. Use it only for a request whose body was read or is not
    wanted: the task takes what ``receive`` gives, and skips body that nobody read, as Starlette's
    ``StreamingResponse`` does. It ends (is cancelled) with the ``with`` block.
    """

    __slots__ = ("_receive", "_task", "_wake", "gone")

    def __init__(self, receive: Receive, wake: Callable[[], None]) -> None:
        self._receive = receive
        self._wake = wake
        self._task: asyncio.Task[None] | None = None
        #: True once the client has gone away.
        self.gone = False

    def __enter__(self) -> Self:
        self._task = asyncio.ensure_future(self._listen())
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _listen(self) -> None:
        try:
            while (await self._receive())["type"] != "http.disconnect":
                pass  # body (more_body) that nobody reads
        except asyncio.CancelledError:
            raise  # the block ended: nobody waits any more
        except Exception:  # a server that cannot tell: the client is as good as gone
            log.debug("receive failed; treating the client as gone", exc_info=True)
        self.gone = True
        self._wake()


class EventStream(Response):
    """Server-sent events: each chunk ``events`` yields is sent as it comes, until it ends.

    The generator itself learns that the client went away (:class:`ClientWatch`) and ends; a
    server that refuses a send instead ends the stream with its error. ``on_close`` runs in
    every path once the response is called, also when the stream never starts.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        events: AsyncGenerator[bytes, None],
        *,
        headers: Mapping[str, str],
        on_close: Callable[[], object],
    ) -> None:
        # No body, hence no Content-Length: the server sends the chunks chunked.
        self.status_code = 200
        self.background = None
        self._events = events
        self._on_close = on_close
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the start, every event and the end with ``send`` (the middlewares' wrapper)."""
        del scope, receive
        try:
            async with contextlib.aclosing(self._events) as events:
                await send(
                    {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
                )
                async for chunk in events:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self._on_close()
