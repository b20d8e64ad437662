"""The shipped nginx configuration (deploy/nginx/zorgid.conf) in front of a real ``zorgid serve``.

nginx (Debian's package, scripts/setup installs it) runs with the file as shipped, only its
listening port, certificate paths and upstream filled in, over TLS on loopback. Through it: the
login page is served, a login's server-sent events arrive while the stream is still open (no
buffering), oversized heads and bodies are refused by nginx itself, a head that does not arrive
in time loses its connection, ``/metrics`` is not served, and the service records the client's
address as nginx saw it, not what the client claimed in X-Forwarded-For. Straight to the
service, from an address other than nginx's, a forged X-Forwarded-For is ignored.
"""

from __future__ import annotations

import shutil
import socket
import sqlite3
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.support.server import free_port, read_login_page, serve_process

if TYPE_CHECKING:
    from collections.abc import Iterator

SHIPPED = Path(__file__).parents[2] / "deploy" / "nginx" / "zorgid.conf"
#: An address of this machine that is neither nginx's nor the service's peer (all of
#: 127.0.0.0/8 is loopback on Linux).
ELSEWHERE = "127.0.0.3"
FORGED = "203.0.113.9"


@dataclass(frozen=True)
class Proxied:
    """nginx in front of the service, and the service itself."""

    proxy: str  # https://127.0.0.1:port
    direct: str  # http://127.0.0.1:port
    database: Path


def _certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _nginx_conf(prefix: Path, site: Path) -> str:
    temp = " ".join(f"{kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy"))
    return f"""
user root;
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    {temp} fastcgi_temp_path {prefix / "fastcgi"}; uwsgi_temp_path {prefix / "uwsgi"};
    scgi_temp_path {prefix / "scgi"};
    include {site};
}}
"""


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    data = tmp_path_factory.mktemp("nginx")
    database = data / "zorgid.sqlite3"
    with serve_process(
        data, f"sqlite:///{database}", ZORGID_FORWARDED_ALLOW_IPS="127.0.0.1"
    ) as direct:
        cert, key = _certificate(data)
        port = free_port()
        site = data / "zorgid.conf"
        site.write_text(
            SHIPPED.read_text()
            .replace("@LISTEN@", f"127.0.0.1:{port}")
            .replace("@CERTIFICATE@", str(cert))
            .replace("@CERTIFICATE_KEY@", str(key))
            .replace("@UPSTREAM@", direct.removeprefix("http://"))
        )
        conf = data / "nginx.conf"
        conf.write_text(_nginx_conf(data, site))
        process = subprocess.Popen(
            [nginx, "-p", str(data), "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            _wait_for(process, port, data / "error.log")
            yield Proxied(f"https://127.0.0.1:{port}", direct, database)
        finally:
            process.terminate()
            process.communicate(timeout=30)


def _wait_for(process: subprocess.Popen[str], port: int, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            output = process.communicate()[0]
            errors = log.read_text() if log.exists() else ""
            pytest.fail(f"nginx did not start:\n{output}\n{errors}")
        time.sleep(0.1)


def client(base: str, source: str = "127.0.0.1") -> httpx.Client:
    """An HTTP client connecting from ``source`` (TLS not verified: the certificate is ours)."""
    transport = httpx.HTTPTransport(local_address=source, verify=False)
    return httpx.Client(base_url=base, transport=transport, timeout=30)


def recorded_client(database: Path, login_id: str) -> str:
    """The client address the service recorded for a login."""
    with sqlite3.connect(database) as db:
        row = db.execute(
            "SELECT client_ip FROM login_sessions WHERE id = ?", (login_id,)
        ).fetchone()
    return str(row[0])


def test_the_login_page_is_served_through_nginx(proxied: Proxied) -> None:
    with client(proxied.proxy) as browser:
        page = browser.get("/")
    assert page.status_code == 200
    assert read_login_page(page.text).login_id
    assert page.headers["content-security-policy"]
    assert "nginx/" not in page.headers.get("server", "")  # no version


def test_server_sent_events_come_through_while_the_stream_is_open(proxied: Proxied) -> None:
    with client(proxied.proxy) as browser:
        login = read_login_page(browser.get("/").text)
        with browser.stream("GET", f"/login/{login.login_id}/events") as events:
            assert events.headers["content-type"].startswith("text/event-stream")
            received = b""
            for chunk in events.iter_raw():
                received += chunk
                if b"data:" in received:
                    break
    # The stream was still open (the login is pending for two minutes): nothing held it back.
    assert b"event: state" in received
    assert b'"pending"' in received


def test_a_large_head_is_refused_by_nginx(proxied: Proxied) -> None:
    with client(proxied.proxy) as browser:
        one_large = browser.get("/healthz", headers={"x-large": "a" * 10_000})
        many = browser.get("/healthz", headers={f"x-{i}": "b" * 1000 for i in range(40)})
    for refused in (one_large, many):
        assert refused.status_code == 400
        assert "Request Header Or Cookie Too Large" in refused.text  # nginx's page, not ours


def test_a_large_body_is_refused_by_nginx(proxied: Proxied) -> None:
    with client(proxied.proxy) as browser:
        refused = browser.post("/aanvraag", content=b"x" * (1024 * 1024))
    assert refused.status_code == 413
    assert "Request Entity Too Large" in refused.text


def test_a_slow_head_is_dropped_by_nginx(proxied: Proxied) -> None:
    host, port = proxied.proxy.removeprefix("https://").split(":")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connections = []
    try:
        for _ in range(20):
            raw = socket.create_connection((host, int(port)), timeout=60)
            conn = context.wrap_socket(raw)
            conn.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            connections.append(conn)
        answers = [conn.recv(1024) for conn in connections]  # until nginx closes each
    finally:
        for conn in connections:
            conn.close()
    assert answers == [b""] * len(connections)


def test_metrics_are_not_served_through_nginx(proxied: Proxied) -> None:
    with client(proxied.proxy) as browser:
        assert browser.get("/metrics").status_code == 404


def test_the_service_records_the_address_nginx_saw_not_the_forged_one(proxied: Proxied) -> None:
    with client(proxied.proxy, source=ELSEWHERE) as browser:
        page = browser.get("/", headers={"x-forwarded-for": FORGED})
    login = read_login_page(page.text)
    assert recorded_client(proxied.database, login.login_id) == ELSEWHERE


def test_a_forged_forwarded_for_straight_to_the_service_is_ignored(proxied: Proxied) -> None:
    with client(proxied.direct, source=ELSEWHERE) as browser:
        page = browser.get("/", headers={"x-forwarded-for": FORGED})
    login = read_login_page(page.text)
    assert recorded_client(proxied.database, login.login_id) == ELSEWHERE
