"""The limits of ``zorgid serve`` on a request's head, against the real command on loopback.

The head's size and number of fields are refused with 431 before the app sees the request;
a head that does not arrive in time (slowloris) loses its connection. The limits come from
settings; these tests set a one-second timeout so that they wait little.
"""

from __future__ import annotations

import contextlib
import re
import socket
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.support.server import serve_process

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

HALF_OPEN = 300


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``zorgid serve`` on SQLite with a head timeout of one second (the limits are not DB work)."""
    data: Path = tmp_path_factory.mktemp("limits")
    with serve_process(
        data,
        f"sqlite:///{data / 'zorgid.sqlite3'}",
        ZORGID_HTTP_HEAD_TIMEOUT_SECONDS="1",
        ZORGID_RATE_LIMIT_PER_MINUTE="0",
    ) as served:
        yield served


def address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def exchange(url: str, head: bytes, body: bytes = b"") -> bytes:
    """Send ``head`` (and ``body``) on a new connection: what the server answered."""
    with socket.create_connection(address(url), timeout=30) as conn:
        # The server may close after its answer, before taking everything.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.sendall(head + body)
        answer = b""
        try:
            while chunk := conn.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer and b"connection: close" not in answer.lower():
                    break
        except ConnectionResetError:
            pass
    return answer


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_a_16_mib_header_is_refused_with_431(url: str) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (16 * 1024 * 1024) + b"\r\n\r\n"
    answer = exchange(url, head)
    assert status(answer) == 431


def test_a_long_request_target_is_refused_with_431(url: str) -> None:
    answer = exchange(url, b"GET /healthz?" + b"q" * 40_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status(answer) == 431


@pytest.mark.parametrize("count", [101, 100_000])
def test_more_than_100_header_fields_are_refused_with_431(url: str, count: int) -> None:
    fields = b"".join(b"X-%d: 1\r\n" % i for i in range(count))
    answer = exchange(url, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
    assert status(answer) == 431


def test_a_head_within_the_limits_is_served(url: str) -> None:
    headers = {f"x-field-{i}": "v" * 300 for i in range(90)}  # 27 KiB in 95 fields, httpx its own
    response = httpx.get(f"{url}/healthz", headers=headers)
    assert response.status_code == 200


def test_a_large_body_behind_a_small_head_is_not_taken_for_the_head(url: str) -> None:
    body = b"x" * 200_000
    head = b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
    answer = exchange(url, head, body)
    assert status(answer) == 405


def test_half_open_requests_are_dropped_when_their_head_is_late(url: str) -> None:
    conns = [socket.create_connection(address(url), timeout=30) for _ in range(HALF_OPEN)]
    try:
        for i, conn in enumerate(conns):
            if i % 2:  # half send a beginning, half send nothing at all
                conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        closed = [conn.recv(1024) for conn in conns]  # blocks until the server closes each
    finally:
        for conn in conns:
            conn.close()
    assert closed == [b""] * HALF_OPEN
    assert httpx.get(f"{url}/healthz").status_code == 200


def whole_response(conn: socket.socket) -> bytes:
    """One response with a Content-Length, read to its end (it may come in several pieces)."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += conn.recv(65536)
    head, body = received.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"content-length: *(\d+)", head, re.IGNORECASE).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_late_head_on_a_kept_alive_connection_is_dropped_too(url: str) -> None:
    with socket.create_connection(address(url), timeout=30) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = whole_response(conn)
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        rest = conn.recv(65536)
    assert status(first) == 200
    assert rest == b""
