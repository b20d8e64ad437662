"""Structured logs (structlog) and Prometheus metrics for every request."""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import TYPE_CHECKING

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send


#: Pages whose address carries a capability token (an e-mailed link): the token is the key.
_TOKEN_IN_PATH = re.compile(r"^(/+(?:aanvraag|gegevens)/)[^/]+")
REDACTED = "[token]"


def loggable_path(path: str) -> str:
    """``path`` with the token of a mailed link replaced: logs are read by more people."""
    return _TOKEN_IN_PATH.sub(lambda m: m.group(1) + REDACTED, path)


def configure_logging(*, json_logs: bool, level: str) -> None:
    """JSON lines in production, readable lines in development; stdlib logs go the same way."""
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


#: Methods counted by name; any other (a client may send any token as a method) is "other", so
#: that a client cannot grow the metrics without bound by inventing methods.
METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)


class Metrics:
    """The service's metrics, in a registry of its own (one per app, so tests stay apart)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "zorgid_http_requests",
            "HTTP requests by method and status",
            ["method", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "zorgid_http_request_duration_seconds",
            "Time to the response's first byte",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=self.registry,
        )


class RequestObserver:
    """Counts, times and logs every HTTP request (pure ASGI: no extra task per request)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.log = structlog.get_logger("zorgid.http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Observe one request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                elapsed = time.perf_counter() - started
                self.metrics.duration.observe(elapsed)
                method = scope["method"] if scope["method"] in METHODS else "other"
                self.metrics.requests.labels(method, str(status)).inc()
                # The path only (query strings may carry one-time values), tokens redacted.
                self.log.info(
                    "request",
                    method=scope["method"],
                    path=loggable_path(scope["path"]),
                    status=status,
                    ms=round(elapsed * 1000, 2),
                )
            await send(message)

        await self.app(scope, receive, observe)
