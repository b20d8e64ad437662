"""The request observer: what a client sends cannot grow the metrics without bound."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from prometheus_client import generate_latest

from zorgid.web.observability import Metrics, RequestObserver

if TYPE_CHECKING:
    from starlette.types import Message, Receive, Scope, Send


async def _answer(scope: Scope, receive: Receive, send: Send) -> None:
    del scope, receive
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _request(observer: RequestObserver, method: str) -> None:
    scope = {"type": "http", "method": method, "path": "/", "headers": []}

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        del message

    asyncio.run(observer(scope, receive, send))


def test_methods_a_client_invents_are_counted_as_other() -> None:
    metrics = Metrics()
    observer = RequestObserver(_answer, metrics=metrics)

    for number in range(20):
        _request(observer, f"ZORGID{number}")
    _request(observer, "GET")

    text = generate_latest(metrics.registry).decode()
    assert "ZORGID" not in text
    assert 'zorgid_http_requests_total{method="other",status="204"} 20.0' in text
    assert 'zorgid_http_requests_total{method="GET",status="204"} 1.0' in text
