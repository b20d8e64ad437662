"""A per-address limit on the requests that create or guess (security.md, "Rate limits").

Guessing itself is limited per code and per device (three pairing codes per login, five nonces
per activation code, the PIN's back-off); this limit keeps one address from flooding the service
with new logins or attempts. It counts per node, in memory (a token bucket per address): with
several nodes behind a balancer an address gets at most (nodes times the limit), which is still
a limit. Reads (event streams, status polls, static files) are not counted.
"""

from __future__ import annotations

import json
import math
import time
from typing import TYPE_CHECKING

from zorgid.core.i18n import N_
from zorgid.errors import ZorgidError

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.types import ASGIApp, Receive, Scope, Send

MAX_TRACKED = 50_000  # addresses remembered at most; the idlest are forgotten first


class RateLimitedError(ZorgidError):
    """Too many requests from one address."""

    code = "rate_limited"
    message = N_("Too many requests from your network. Wait {retry_after} seconds and try again.")


#: Methods that only read; every other request changes something or tries a secret (every POST
#: of ours: forms, the app API, logout), so it is counted wherever it goes.
READS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Pages whose address carries an e-mailed token: opening one tries a secret.
TOKEN_PAGES = ("/aanvraag/", "/gegevens/")


def counted(method: str, path: str) -> bool:
    """Whether a request creates something or tries a secret."""
    if method not in READS:
        return True
    # HEAD is a GET without the body: the same route answers it, so it is counted alike.
    return method != "OPTIONS" and (path == "/" or path.startswith(TOKEN_PAGES))


class RateLimit:
    """Pure ASGI middleware: a token bucket of ``per_minute`` requests per client address."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        per_minute: int,
        client: Callable[[Scope], str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.client = client
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, last seen)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Let the request through, or answer 429 with Retry-After."""
        if (
            self.capacity <= 0
            or scope["type"] != "http"
            or not counted(scope["method"], scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        wait = self._take(self.client(scope))
        if wait is None:
            await self.app(scope, receive, send)
            return
        await self._refuse(scope, send, wait)

    def _take(self, address: str) -> int | None:
        now = self.clock()
        tokens, last = self.buckets.pop(address, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if len(self.buckets) >= MAX_TRACKED:  # dicts keep insertion order: oldest first
            del self.buckets[next(iter(self.buckets))]
        if tokens >= 1:
            self.buckets[address] = (tokens - 1, now)
            return None
        self.buckets[address] = (tokens, now)
        return max(1, math.ceil((1 - tokens) / self.rate))

    async def _refuse(self, scope: Scope, send: Send, wait: int) -> None:
        headers = dict(scope.get("headers", []))
        lang = "en" if headers.get(b"accept-language", b"").lower().startswith(b"en") else "nl"
        error = RateLimitedError(f"{wait}s", retry_after=wait)
        body = json.dumps(
            {
                "error": {
                    "code": error.code,
                    "message": error.public_message(lang),
                    "retry_after": wait,
                }
            },
            ensure_ascii=False,
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json; charset=utf-8"),
                    (b"retry-after", str(wait).encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def peer_address(scope: Scope) -> str:
    """The client address uvicorn determined (the peer, or a trusted proxy's X-Forwarded-For)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
