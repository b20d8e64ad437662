"""Two service processes on one PostgreSQL: the browser waits on node A, the app talks to node B.

Node A runs in the test process; node B is a separate ``zorgid serve`` process. They share only
the database and the key directory, as nodes behind a load balancer do. The QR code points at
node B's address (the "load balancer" sends apps there), the browser stays on node A. The login
completes only if each node hears the other's changes (PostgreSQL LISTEN/NOTIFY): node B's app
waits for the code typed on node A, and node A's event stream waits for node B's approval.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.support.clock import ManualClock
from tests.support.identity import PIN
from tests.support.identity_flows import add_operator
from tests.support.phone import run_app, scan_login
from tests.support.server import (
    Browser,
    _free_socket,
    free_port,
    read_login_page,
    serve,
    start_serve,
)
from zorgid.bootstrap import build
from zorgid.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def node_b(tmp_path: Path, database_url: str) -> Iterator[str]:
    """A second node: its own ``zorgid serve`` process on the same database and keys."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    build(Settings(data_dir=tmp_path, database_url=database_url), create_keys=True).close()
    process = start_serve(
        {
            "ZORGID_DATABASE_URL": database_url,
            "ZORGID_DATA_DIR": str(tmp_path / "node-b"),
            "ZORGID_KEY_DIR": str(tmp_path / "keys"),
            "ZORGID_LOG_LEVEL": "warning",
        },
        port,
    )
    try:
        yield url
    finally:
        process.terminate()
        process.communicate(timeout=20)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_login_waiting_on_node_a_completes_when_the_app_talks_to_node_b(
    tmp_path: Path, database_url: str, node_b: str
) -> None:
    sock_a = _free_socket()
    container_a = build(
        Settings(data_dir=tmp_path, database_url=database_url, public_url=node_b),
        clock=ManualClock(dt.datetime.now(dt.UTC)),
    )
    url_a = f"http://127.0.0.1:{sock_a.getsockname()[1]}"
    issued = add_operator(container_a, name="Olga Operator", email="olga@zorgid.test")
    home = tmp_path / "phone"
    activation = run_app(home, "activate", issued.qr_text, "--pin-stdin", stdin=PIN + "\n")
    assert activation.returncode == 0, activation.stdout + activation.stderr
    try:
        with serve(container_a, sock_a):
            browser = Browser(url_a)
            page = read_login_page(browser.get("/").text)
            assert page.qr_text.startswith(node_b)  # the app is sent to node B
            events: list[str] = []
            cookie = next(v for (n, _p), v in browser.cookies.items() if n == "zorgid_login")

            def listen() -> None:
                headers = {"cookie": f"zorgid_login={cookie}"}
                with httpx.stream(
                    "GET", f"{url_a}/login/{page.login_id}/events", headers=headers, timeout=60
                ) as stream:
                    for line in stream.iter_lines():
                        if line.startswith("data:"):
                            events.append(json.loads(line[5:])["state"])
                            if events[-1] == "approved":
                                return

            listener = threading.Thread(target=listen, daemon=True)
            listener.start()
            scanning = scan_login(home, page.qr_text, "--pin-stdin")
            typed = browser.post(
                f"/login/{page.login_id}/code",
                data={"code": scanning.code, "csrf": page.csrf},
                headers={"accept": "application/json"},
            )
            assert typed.status_code == 200, typed.text
            done_app = scanning.finish(PIN + "\n")
            assert done_app.returncode == 0, done_app.stdout + done_app.stderr
            listener.join(timeout=30)
            assert events[0] == "pending"
            assert events[-1] == "approved"
            assert "scanned" in events  # node A heard node B's scan
            done = browser.post(f"/login/{page.login_id}/complete", data={"csrf": page.csrf})
            assert done.status_code == 303
            assert "Olga Operator" in browser.get("/").text
    finally:
        container_a.close()
