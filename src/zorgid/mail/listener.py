"""An aiosmtpd server in its own thread that may listen on port 0 and tells the port it got."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Coroutine


class Listener(Controller):
    """aiosmtpd's threaded controller, with the SMTP class chosen by the caller.

    aiosmtpd's own controller connects to ``port`` once to check the server is up, which fails
    for port 0 ("any free port"); this one reads the bound port back first. Tests thus never
    guess a free port (and never race another process for it).
    """

    def __init__(
        self,
        handler: object,
        *,
        host: str,
        port: int,
        smtp_class: type[SMTP] = SMTP,
        **smtp_options: Any,  # noqa: ANN401 - forwarded as they are to aiosmtpd's SMTP
    ) -> None:
        # A fixed server name: aiosmtpd would otherwise ask DNS (getfqdn), which can hang.
        smtp_options.setdefault("server_hostname", host)
        super().__init__(handler, hostname=host, port=port, **smtp_options)
        self._smtp_class = smtp_class

    def factory(self) -> SMTP:
        """A protocol instance per connection, of the chosen class."""
        return self._smtp_class(self.handler, **self.SMTP_kwargs)

    def _create_server(self) -> Coroutine[Any, Any, asyncio.AbstractServer]:
        return self._bind()

    async def _bind(self) -> asyncio.AbstractServer:
        server = await self.loop.create_server(
            self._factory_invoker, host=self.hostname, port=self.port, ssl=self.ssl_context
        )
        # Read in the server thread before start() returns (it waits on an event after this).
        self.port = server.sockets[0].getsockname()[1]
        return server


class ListeningServer:
    """What a server built on a :class:`Listener` offers: its address, start and stop."""

    _listener: Listener

    @property
    def host(self) -> str:
        """The address listened on."""
        return str(self._listener.hostname)

    @property
    def port(self) -> int:
        """The port listened on (the one the system chose, when asked for port 0)."""
        return int(self._listener.port)

    def start(self) -> None:
        """Start listening (returns when the server answers)."""
        self._listener.start()

    def stop(self) -> None:
        """Stop listening and end open connections (what was received stays)."""
        self._listener.stop()
