"""The HTTP/1.1 protocol of ``zorgid serve``: uvicorn's httptools protocol, with limits on the head.

uvicorn bounds neither the size nor the number of a request's header fields when it parses with
httptools (its default, and the fastest), and it has no timeout for reading a request's head: a
client may send a 16 MiB header, 100,000 headers, or one byte of a header a minute on as many
connections as it likes (slowloris). :class:`GuardedHttpTools` adds the three limits uvicorn has
no option for (docs/decisions/0010-http-limits.md):

- the head (request line and header fields) at most ``max_head_bytes``: beyond it, 431;
- at most ``max_headers`` header fields: beyond it, 431;
- the head complete within ``head_timeout`` seconds of the request's first byte (or of the
  connection, for its first request): otherwise the connection is closed without an answer.

Everything after the head (the body, the app, keep-alive) is uvicorn's own. In production a
reverse proxy in front has the same limits of its own (docs/operations.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

if TYPE_CHECKING:
    import asyncio

    from uvicorn.config import Config
    from uvicorn.server import ServerState

TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 32\r\n"
    b"connection: close\r\n"
    b"\r\n"
    b"Request header fields too large."
)


@dataclass(frozen=True)
class HeadLimits:
    """The limits on a request's head."""

    max_head_bytes: int = 32 * 1024
    max_headers: int = 100
    head_timeout: float = 10.0


class _HeadTooLargeError(Exception):
    """Raised in a parser callback: the parser stops, uvicorn answers 400 (431 here)."""


def guarded(limits: HeadLimits) -> type[asyncio.Protocol]:
    """The protocol class for uvicorn's ``http`` option, with ``limits``."""

    class Guarded(GuardedHttpTools):
        pass

    Guarded.limits = limits
    return Guarded


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a head that is too large, too long or too slow."""

    limits = HeadLimits()

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._head_bytes = 0
        self._header_count = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._reading_head = False
        self._received = 0
        self._head_refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request's head."""
        super().connection_made(transport)
        self._start_head()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self._stop_head()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser; a head over the limits is answered 431 and the connection closed.

        The parser keeps a field's bytes until the field ends, so a head that is still
        incomplete is measured by the bytes received for it, not only field by field.
        """
        if not self._reading_head and self.cycle is not None and self.cycle.response_complete:
            self._start_head()  # the next request on a kept-alive connection
        if self._reading_head:
            self._received += len(data)
        super().data_received(data)  # a callback's _HeadTooLargeError ends in send_400_response
        if self._reading_head and self._received > self.limits.max_head_bytes:
            self._refuse()

    def on_message_begin(self) -> None:
        """A new request: its head starts empty."""
        super().on_message_begin()
        self._head_bytes = 0
        self._header_count = 0
        if not self._reading_head:
            self._start_head()

    def on_url(self, url: bytes) -> None:
        """Count the request target against the head's size."""
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """Count the field against the head's size and the number of fields."""
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._too_large()
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        """The head arrived in time: stop its clock, and let uvicorn start the request."""
        self._stop_head()
        super().on_headers_complete()

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.limits.max_head_bytes:
            self._too_large()

    def _too_large(self) -> None:
        self._head_refused = True
        raise _HeadTooLargeError

    def send_400_response(self, msg: str) -> None:
        """The answer to a request the parser refused: 431 when it was the head's size."""
        if self._head_refused:
            self._refuse()
        else:
            super().send_400_response(msg)

    def _start_head(self) -> None:
        self._stop_head()
        self._reading_head = True
        self._received = 0
        self._head_timer = self.loop.call_later(self.limits.head_timeout, self._head_too_slow)

    def _stop_head(self) -> None:
        self._reading_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._reading_head and not self.transport.is_closing():
            self.transport.close()

    def _refuse(self) -> None:
        self._stop_head()
        if not self.transport.is_closing():
            self.transport.write(TOO_LARGE)
            self.transport.close()
