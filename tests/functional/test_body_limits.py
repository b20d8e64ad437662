"""Every route refuses a body over its limit with 413 before it is read, however it is sent.

The routes are taken from the app itself (every route that accepts a method with a body), so a
route added later is covered without a line here. The 1 GiB test runs a real ``zorgid serve``
in its own process, sends each route 1 GiB (with its true Content-Length, chunked without one,
and with a Content-Length that lies), and reads the server's resident memory before and after.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.routing import iter_route_contexts

from tests.support.server import Browser, free_port, start_serve
from zorgid.bootstrap import build
from zorgid.settings import Settings
from zorgid.web.app import create_app
from zorgid.web.bodylimit import FORM_LIMIT, SMALL_BODY, UPLOAD_LIMIT

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.support.server import Live
    from zorgid.bootstrap import Container

GIB = 1 << 30
MIB = 1 << 20
CHUNK = b"\0" * (64 * 1024)
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
#: Each kind of route and its own limit (the app's default for every other form).
LIMITS = {
    "/api/app/v1/": SMALL_BODY,
    "/login/": SMALL_BODY,
    "/aanvraag/{token}/document": UPLOAD_LIMIT,
}
ID = "AAAAAAAAAAAAAAAAAAAAAA"  # fits every path parameter of ours (22 URL-safe characters)


@dataclass(frozen=True)
class Target:
    """One route that takes a body, as called."""

    method: str
    template: str
    path: str

    @property
    def limit(self) -> int:
        """The body limit this route should have."""
        for prefix, limit in LIMITS.items():
            if self.template.startswith(prefix) or self.template == prefix:
                return limit
        return FORM_LIMIT


def body_routes(container: Container) -> list[Target]:
    """Every (method, path) of the app that takes a body, its parameters filled in."""
    targets: list[Target] = []
    # FastAPI's own walk through included routers (the one its OpenAPI document takes).
    for route in iter_route_contexts(create_app(container).routes):
        methods: set[str] = route.methods or set()  # a mount has none
        template = route.path or ""
        path = re.sub(r"\{[^}]+\}", ID, template)
        targets.extend(Target(method, template, path) for method in sorted(methods & BODY_METHODS))
    return targets


@dataclass(frozen=True)
class Sent:
    """What came back for an oversized body, and how much of it went out before."""

    status: int
    head: str
    sent: int


def send_huge(port: int, target: Target, mode: str, size: int = GIB) -> Sent:
    """Send ``size`` bytes to ``target`` (``declared``, ``chunked`` or ``lying``); its answer.

    The body goes out until the server answers or closes; the server may reset the connection
    after its 413 (it does not read the rest), which ends the sending, not the test.
    """
    headers = [f"{target.method} {target.path} HTTP/1.1", "Host: 127.0.0.1", "Accept: */*"]
    if mode == "declared":
        headers.append(f"Content-Length: {size}")
    elif mode == "lying":
        headers.append("Content-Length: 100")
    else:
        headers.append("Transfer-Encoding: chunked")
    sent = 0
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(("\r\n".join(headers) + "\r\n\r\n").encode())
        with contextlib.suppress(ConnectionError, TimeoutError):
            # Send until the body is out or the server answers (or closes) in between.
            while sent < size and not select.select([conn], [], [], 0)[0]:
                part = CHUNK[: size - sent]
                conn.sendall(b"%x\r\n%s\r\n" % (len(part), part) if mode == "chunked" else part)
                sent += len(part)
            if mode == "chunked" and sent >= size:
                conn.sendall(b"0\r\n\r\n")
        with contextlib.suppress(ConnectionError, TimeoutError):
            while b"\r\n\r\n" not in answer:
                part = conn.recv(65536)
                if not part:
                    break
                answer += part
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    match = re.match(r"HTTP/1\.1 (\d{3})", head)
    return Sent(int(match.group(1)) if match else 0, head, sent)


def rss(pid: int) -> int:
    """The process's resident memory in bytes (/proc/<pid>/status)."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert found, status
    return int(found.group(1)) * 1024


@pytest.fixture
def served(tmp_path: Path, database_url: str) -> Iterator[tuple[int, int, list[Target]]]:
    """``zorgid serve`` in its own process: (port, pid, the routes that take a body)."""
    database = database_url
    container = build(Settings(data_dir=tmp_path, database_url=database), create_keys=True)
    try:
        targets = body_routes(container)
    finally:
        container.close()
    port = free_port()
    env = {
        "ZORGID_DATABASE_URL": database,
        "ZORGID_DATA_DIR": str(tmp_path),
        "ZORGID_LOG_LEVEL": "warning",
        "ZORGID_MAIL_WORKER": "false",
        "ZORGID_RATE_LIMIT_PER_MINUTE": "0",
    }
    process = start_serve(env, port)
    try:
        yield port, process.pid, targets
    finally:
        process.terminate()
        process.communicate(timeout=30)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_gibibyte_to_every_route_is_refused_with_413_and_memory_stays_flat(
    served: tuple[int, int, list[Target]],
) -> None:
    port, pid, targets = served
    templates = {t.template for t in targets}
    assert "/api/app/v1/activations/{activation_id}" in templates
    assert "/api/app/v1/logins/{login_id}/scan" in templates
    assert "/aanvraag/{token}/document" in templates
    assert "/logout" in templates
    # Once over each route just past its limit, so that every code path is loaded and warm.
    for target in targets:
        for mode in ("declared", "chunked"):
            warm = send_huge(port, target, mode, size=target.limit + len(CHUNK))
            assert warm.status == 413, (target, mode, warm.head)
    time.sleep(0.5)
    before = rss(pid)
    started = time.monotonic()
    refused = {}
    lied_to = {}
    lies: dict[int, int] = {}
    for target in targets:
        for mode in ("declared", "chunked"):
            answer = send_huge(port, target, mode)
            # Our own answer (the API's JSON, a page otherwise), not the HTTP server's.
            kind = "application/json" if target.path.startswith("/api/") else "text/html"
            refused[target.method, target.path, mode] = (
                answer.status,
                answer.sent < 64 * MIB,
                f"content-type: {kind}" in answer.head.lower(),
            )
        # Content-Length: 100, then 1 GiB: what follows the 100 bytes is no body but the next
        # request, which the HTTP server refuses as malformed (400) and closes the connection.
        lie = send_huge(port, target, "lying")
        lies[lie.status] = lies.get(lie.status, 0) + 1
        lied_to[target.method, target.path] = (400 <= lie.status < 500, lie.sent < 64 * MIB)
    after = rss(pid)
    took = time.monotonic() - started
    print(  # noqa: T201 - the figures for the report (pytest -s)
        f"{len(refused) + len(lied_to)} GiB bodies refused in {took:.1f} s; "
        f"server RSS {before / MIB:.1f} -> {after / MIB:.1f} MiB; answers to the lie: {lies}"
    )
    assert refused == dict.fromkeys(refused, (413, True, True)), refused
    assert lied_to == dict.fromkeys(lied_to, (True, True)), lied_to
    assert after - before < 50 * MIB, (before, after)


def test_an_oversized_body_gets_the_coded_413_in_the_persons_language(
    live: Live, browser: Browser
) -> None:
    api = browser.post(
        f"/api/app/v1/activations/{ID}",
        content=b'{"nonce": "' + b"a" * SMALL_BODY + b'"}',
        headers={"content-type": "application/json", "accept-language": "en"},
    )
    assert api.status_code == 413
    assert api.json()["error"]["code"] == "too_large"
    assert "at most 8 KiB" in api.json()["error"]["message"]
    assert api.headers["connection"] == "close"

    def stream() -> Iterator[bytes]:
        for _ in range(FORM_LIMIT // len(CHUNK) + 2):
            yield CHUNK

    page = Browser(live.url).post(
        "/aanvraag", content=stream(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert page.status_code == 413
    assert page.headers["content-type"].startswith("text/html")
    assert "too_large" in page.text
    assert "groter dan dit adres aanneemt (hoogstens 64 KiB)" in page.text


def test_a_body_within_the_limit_is_read_as_before(browser: Browser) -> None:
    body = b'{"nonce": "' + b"a" * (SMALL_BODY - 20) + b'"}'
    answer = browser.post(
        f"/api/app/v1/logins/{ID}/scan", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400  # read, and refused for what it says
    assert answer.json()["error"]["code"] == "bad_request"
