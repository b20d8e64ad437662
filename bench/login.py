"""Complete QR+PIN login ceremonies per second, one server process on one core, side by side.

For each database (SQLite in a fresh data directory; PostgreSQL in a fresh database
``zorgid_bench_<random>`` on 127.0.0.1:5432 as user ``postgres``, created and dropped here) the
script runs ``zorgid init``, makes one person with an activation code per virtual user through
the Python API, and starts ``zorgid serve`` pinned to core 0 (``taskset -c 0``). This process,
the client, pins itself to core 1. It activates one device per virtual user over HTTP (a P-256
key and PIN, signed as docs/protocol.md says), then ``--users`` virtual users each repeat, for
``--seconds`` after a warm-up, the whole ceremony with their own device.

The client's HTTP is its own and cheap, so that the client (which shares its core with
PostgreSQL) is not what limits the figures: HTTP/1.1 on asyncio protocols, requests written as
bytes, answers parsed by ``httptools`` (which also undoes the event stream's chunked encoding,
delivering its body as it arrives), keep-alive connections kept in a pool of idle ones (a
connection is closed when its answer says ``Connection: close`` or a body is left unread), every
request bounded by 60 s, all on uvloop. It used aiohttp, at about 3 ms of client CPU per
ceremony (this client: about 1). The steps:

1. browser ``GET /``: a new login; the login id, QR text and CSRF token from the page, the
   ``zorgid_login`` cookie from ``Set-Cookie`` (cookies are handled by hand: they are
   ``Secure`` and this client speaks plain HTTP to 127.0.0.1);
2. browser ``GET /login/{id}/events`` (server-sent events, read as they arrive; the app scans
   once the first event is in, as a person scans a QR that is already on screen);
3. app ``POST /api/app/v1/logins/{id}/scan`` (signed), which hands out the code;
4. app ``POST .../wait`` (the long poll, sent at once) while the browser ``POST
   /login/{id}/code`` types the code; the wait returns the challenge;
5. app ``POST .../answer`` (approve, PIN, signature over the challenge);
6. the browser's event stream says ``approved``;
7. browser ``POST /login/{id}/complete`` (JSON), which sets ``__Host-zorgid_session``;
8. browser ``GET /`` with that session: the page must show the person's name.

Eight HTTP requests make one ceremony. Each concurrency level (``--users``) is a closed loop:
that many virtual users, each starting its next ceremony as soon as the last one ends, which
pushes the server to its limit (past it, latency is queueing: 64 users each waiting for the
other 63). Then an open loop (``--rate``, by default the target of 150/s, row ``@150``):
ceremonies arrive at that rate (Poisson arrivals, the same in every run), each on a free device
of a pool of at least 64, whatever the server's pace: the latency at that load, and whether the
server keeps up (it completes about what arrives; an arrival that finds no free device is
counted). Reported per database and row:

- ceremonies/s and HTTP requests/s over the measured window, and requests per ceremony;
- approval to browser: from the moment the app starts sending its answer to the moment the
  browser's event stream delivers ``approved``, p50/p99; also from the answer's response to
  the event (negative when the event overtakes the response);
- the ceiling: requests/s of ``GET /healthz`` against the same server, with the same client and
  concurrency, measured right before and right after the ceremonies (their mean is used), and
  the ratio of the ceremony phase's requests/s to it;
- CPU, as a share of one core: the server process, this client (near 100 % the client, not the
  server, may be what limits the figures: the output says so), the PostgreSQL backends serving
  the bench's database (on the client's core, see above), and everything else on each core
  (other work on the machine makes the figures low: the output says so when it took more than
  10 % of the server's core); the server's CPU
  milliseconds per ceremony, per request and per ``/healthz``; PostgreSQL sessions opened per
  second (a connection pool that keeps opening connections shows here);
- every non-2xx answer and every failed ceremony, by step; a run with any is marked.

Targets (the issue): at least 150 ceremonies/s on one core, p99 approval to browser at most
50 ms. ``--profile PREFIX`` runs ``py-spy record --gil`` (``uv run --with py-spy``) on the server
during each measured ceremony phase, writes collapsed stacks to ``PREFIX-<database>-<users>.txt``
and prints the functions with the most samples (samples holding the GIL: Python's own work;
SQLite's C code and waits do not show). Exit status 1 when any error occurred.

Run: ``uv run python bench/login.py`` (``--quick`` for a smoke run of a few seconds;
``--databases sqlite`` without PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import dataclasses
import functools
import html
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import httptools
import psycopg
import uvloop
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from zorgid.bootstrap import build
from zorgid.settings import from_environment

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PIN = "27183"
SERVER_CORE = 0
CLIENT_CORE = 1
REQUESTS_PER_CEREMONY = 8
TARGET_RATE = 150.0
TARGET_P99_MS = 50.0
#: Devices for the open loop (at least): enough that an arrival always finds a free one.
OPEN_LOOP_DEVICES = 64
STREAMS_AT_ONCE = 50  # a soak opens its held event streams this many at a time
SOAK_LIMIT_MIB = 150.0  # the server's resident memory after a soak (the issue's target)
CLIENT_BUSY = 0.9  # a client using more of its core than this may be what limits the figures
NOISY = 0.1  # other processes using more of the server's core than this make the figures low
HTTP_OK_FIRST, HTTP_OK_END = 200, 300
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) zorgid-bench/1"
HTTP_TIMEOUT = 60.0  # seconds one request may take, its streamed body included
CLK_TCK = os.sysconf("SC_CLK_TCK")

_LOGIN_ID = re.compile(r'data-login="([A-Za-z0-9_-]{22})"')
_QR = re.compile(r'data-qr="([^"]+)"')
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class StepFailedError(Exception):
    """One step of a ceremony got an answer it should not have; ``key`` names step and status."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass
class Stats:
    """What one phase counted."""

    requests: int = 0
    ceremonies: int = 0
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    answer_to_event: list[float] = field(default_factory=list)
    response_to_event: list[float] = field(default_factory=list)
    ceremony_seconds: list[float] = field(default_factory=list)
    delayed: int = 0  # open loop: arrivals that found no free device and had to wait


@dataclass(frozen=True)
class Device:
    """One activated device: its key, id and the name of its person."""

    key: ec.EllipticCurvePrivateKey
    device_id: str
    person_name: str


@dataclass(frozen=True)
class Cpu:
    """CPU seconds used so far (or, from :meth:`minus`, shares of one core)."""

    server: float
    client: float
    cores: tuple[float, ...]  # every process on each core, the kernel's work and steal included
    postgres: float | None = None  # the backends serving the bench's database (PostgreSQL only)
    sessions: float | None = None  # PostgreSQL sessions opened per second

    @classmethod
    def now(cls, server_pid: int) -> Cpu:
        """The counters now."""
        return cls(server=process_cpu(server_pid), client=time.process_time(), cores=cores_busy())

    def minus(self, start: Cpu, seconds: float) -> Cpu:
        """The shares of one core used since ``start``, ``seconds`` ago."""
        return Cpu(
            server=(self.server - start.server) / seconds,
            client=(self.client - start.client) / seconds,
            cores=tuple((a - b) / seconds for a, b in zip(self.cores, start.cores, strict=True)),
        )

    def others(self, core: int) -> float:
        """What else kept ``core`` busy: not the server (core 0) or this client (core 1)."""
        if core >= len(self.cores):
            return float("nan")
        own = {SERVER_CORE: self.server, CLIENT_CORE: self.client}.get(core, 0.0)
        return max(0.0, self.cores[core] - own)


@dataclass(frozen=True)
class Phase:
    """One measured window."""

    seconds: float
    stats: Stats
    cpu: Cpu  # shares of one core
    hot: list[tuple[str, int]]  # --profile: the total of samples, then the most sampled

    @property
    def request_rate(self) -> float:
        """HTTP requests answered per second."""
        return self.stats.requests / self.seconds

    @property
    def ceremony_rate(self) -> float:
        """Complete ceremonies per second."""
        return self.stats.ceremonies / self.seconds


@dataclass(frozen=True)
class Row:
    """The figures of one concurrency level on one database."""

    users: int
    ceremonies: Phase
    ceilings: tuple[Phase, Phase]
    memory: tuple[Memory, Memory]  # the server's, before and after the ceremonies
    rate: float | None = None  # open loop: the offered ceremonies per second

    @property
    def label(self) -> str:
        """How the tables name the row: the users, or the offered rate of an open loop."""
        return f"{self.users:5d}" if self.rate is None else f"@{self.rate:g}".rjust(5)

    @property
    def ceiling(self) -> float:
        """The trivial endpoint's requests/s: the mean of before and after."""
        return sum(p.request_rate for p in self.ceilings) / len(self.ceilings)

    @property
    def errors(self) -> collections.Counter[str]:
        """Every error of the ceremonies and of the ceiling runs."""
        total = collections.Counter(self.ceremonies.stats.errors)
        for phase in self.ceilings:
            total.update(phase.stats.errors)
        return total


# -- signing (docs/protocol.md, "Conventions") ---------------------------------------------


def b64url(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign(key: ec.EllipticCurvePrivateKey, label: str, *values: str) -> str:
    """ECDSA P-256/SHA-256 over ``label`` and ``values`` joined by line feeds; DER, base64url."""
    message = "\n".join((label, *values)).encode("utf-8")
    return b64url(key.sign(message, ec.ECDSA(hashes.SHA256())))


def spki(key: ec.EllipticCurvePrivateKey) -> str:
    """The public key as the protocol sends it: SubjectPublicKeyInfo DER, base64url."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return b64url(der)


# -- measuring -----------------------------------------------------------------------------


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used so far; 0 once gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


class Memory(NamedTuple):
    """A process's resident memory now and its peak so far (VmRSS, VmHWM), in MiB."""

    now: float
    peak: float

    @classmethod
    def of(cls, pid: int) -> Memory:
        """Read from ``/proc``."""
        fields = dict(
            line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        )
        rss, hwm = (int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM"))
        return cls(rss, hwm)


def cores_busy() -> tuple[float, ...]:
    """Busy CPU seconds of each core so far (user, nice, system, irq, softirq, steal)."""
    busy = []
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            ticks = [int(v) for v in values]
            busy.append(sum(ticks[i] for i in (0, 1, 2, 5, 6, 7)) / CLK_TCK)
    return tuple(busy)


def backends(database: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving ``database``, by process id."""
    found = {}
    title = f" {database} ".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if title in (entry / "cmdline").read_bytes():
                    found[int(entry.name)] = process_cpu(int(entry.name))
    return found


def pin_backends(database: str) -> None:
    """Keep the backends serving ``database`` on the client's core, off the server's."""
    for pid in backends(database):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, {CLIENT_CORE})


async def backends_pinned(database: str, stop: asyncio.Event) -> None:
    """Pin new backends as they come (every 0.1 s) until ``stop``."""
    while not stop.is_set():
        await asyncio.to_thread(pin_backends, database)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)


def sessions_opened(database: str) -> int:
    """How many sessions PostgreSQL has opened on ``database`` (its statistics)."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        row = admin.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = %s", (database,)
        ).fetchone()
    return int(row[0]) if row else 0


async def postgres_meter(database: str, stop: asyncio.Event) -> tuple[float, int]:
    """CPU seconds of the database's backends and sessions opened, from now until ``stop``.

    Backends come and go (a pool's overflow connections), so they are sampled every 0.2 s; a
    backend that ends loses at most its last 0.2 s.
    """
    start, last = await asyncio.to_thread(backends, database), {}
    opened = await asyncio.to_thread(sessions_opened, database)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)
        last.update(await asyncio.to_thread(backends, database))
    cpu = sum(seconds - start.get(pid, 0.0) for pid, seconds in last.items())
    return cpu, await asyncio.to_thread(sessions_opened, database) - opened


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in 0..1); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


def collapsed_top(path: Path, count: int) -> list[tuple[str, int]]:
    """Own samples by package and by function in py-spy's collapsed stacks; first the total."""
    functions: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        samples = int(number)
        total += samples
        leaf = stack.rsplit(";", 1)[-1].strip()
        functions[leaf] += samples
        where = leaf.rpartition("(")[2].split(":")[0]
        packages[where.split("/")[0].removesuffix(".py") or "?"] += samples
    top = [(f"package   {name}", n) for name, n in packages.most_common(count)]
    top += [(f"function  {name}", n) for name, n in functions.most_common(count)]
    return [("total", total), *top]


# -- the server ----------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def zorgid_command() -> list[str]:
    """The ``zorgid`` command of this environment (the console script next to Python)."""
    script = Path(sys.executable).with_name("zorgid")
    return [str(script)] if script.exists() else [sys.executable, "-m", "zorgid"]


@contextlib.contextmanager
def database(kind: str) -> Iterator[dict[str, str]]:
    """The ``ZORGID_*`` environment of a fresh, initialised service; removed afterwards."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"zorgid-bench-{kind}-"))
    name = f"zorgid_bench_{secrets.token_hex(4)}"
    # One client address plays every user here: the per-address limit is off for the benchmark.
    env = {
        "ZORGID_DATA_DIR": str(data_dir),
        "ZORGID_LOG_LEVEL": "warning",
        "ZORGID_RATE_LIMIT_PER_MINUTE": "0",
    }
    if kind == "postgresql":
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        env["ZORGID_DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        yield env
    finally:
        if kind == "postgresql":
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        shutil.rmtree(data_dir, ignore_errors=True)


def prepare(env: Mapping[str, str], count: int) -> list[tuple[str, str]]:
    """``zorgid init``, then ``count`` people with an activation code: (name, QR text)."""
    subprocess.run(
        [*zorgid_command(), "init"],
        env={**os.environ, **env},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    container = build(from_environment({**os.environ, **env}))
    people = []
    try:
        with container.unit_of_work() as session:
            identity = container.identity(session)
            for i in range(count):
                person = identity.add_person(
                    name=f"Bench Persoon {i:04d}",
                    email=f"bench{i:04d}@praktijk.example.nl",
                    actor="operator:bench",
                    source="bench",
                )
                issued = identity.issue_activation(person, actor="operator:bench", source="bench")
                people.append((issued.person_name, issued.qr_text))
    finally:
        container.engine.dispose()
    return people


@contextlib.contextmanager
def server(env: Mapping[str, str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``zorgid serve`` pinned to core 0, stopped (SIGTERM, then SIGKILL) afterwards."""
    url = f"http://127.0.0.1:{port}"
    taskset = ["taskset", "-c", str(SERVER_CORE)] if shutil.which("taskset") else []
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*taskset, *zorgid_command(), "serve", "--port", str(port), "--public-url", url],
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def until_ready(http: Http, process: subprocess.Popen[bytes]) -> None:
    """Wait for ``/readyz`` to answer 200 (at most 60 s)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        with contextlib.suppress(HttpError, OSError):
            response = await http.request("GET", "/readyz", {"User-Agent": USER_AGENT})
            if response.status == HTTP_OK_FIRST:
                return
        await asyncio.sleep(0.1)
    raise RuntimeError("the server did not become ready in 60 s")


# -- HTTP/1.1 on httptools ----------------------------------------------------------------


class HttpError(Exception):
    """The server's answer was not HTTP that httptools could parse."""


class Response(NamedTuple):
    """A complete answer."""

    status: int
    headers: dict[str, str]  # lower-case names; of a repeated header the last
    set_cookies: list[str]  # every ``Set-Cookie``
    body: bytes


class Connection(asyncio.Protocol):
    """One keep-alive connection carrying one exchange at a time; httptools parses the answers.

    The task that sent a request waits in :meth:`wait` until the connection has news for it: for
    a ``stream`` the head and every piece of body, otherwise only the end (or an error).
    """

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.open = True
        self.waiter: asyncio.Future[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.stream = False
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.head = False
        self.complete = True  # no exchange under way
        self.keep_alive = False
        self.error: Exception | None = None

    def send(self, request: bytes, *, stream: bool, timeout: float) -> None:
        """Start an exchange: write ``request``; it fails with TimeoutError after ``timeout``."""
        self.stream = stream
        self.status = 0
        self.headers = []
        self.body = []
        self.head = self.complete = self.keep_alive = False
        self.error = None
        self.timer = self.loop.call_later(timeout, self.fail, TimeoutError())
        if self.transport is None:
            self.fail(ConnectionResetError("not connected"))
        else:
            self.transport.write(request)

    async def wait(self) -> None:
        """Until the connection has news for the exchange; raises the exchange's error."""
        if self.error is None:
            self.waiter = self.loop.create_future()
            await self.waiter
        if self.error is not None:
            raise self.error

    async def read(self) -> bytes:
        """The body that arrived since the last read (waiting for some); ``b""`` at its end."""
        while not self.body:
            if self.complete:
                return b""
            await self.wait()
        data = b"".join(self.body)
        self.body = []
        return data

    def response(self) -> Response:
        """The complete answer."""
        headers, cookies = {}, []
        for raw_name, raw_value in self.headers:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            if name == "set-cookie":
                cookies.append(value)
            headers[name] = value
        return Response(self.status, headers, cookies, b"".join(self.body))

    def reusable(self) -> bool:
        """Whether the exchange ended so that the connection may carry the next one."""
        return (
            self.complete
            and self.keep_alive
            and self.error is None
            and self.open
            and self.transport is not None
            and not self.transport.is_closing()
        )

    def close(self) -> None:
        """Close the connection (an exchange under way fails)."""
        self.open = False
        if self.transport is not None:
            self.transport.close()

    def fail(self, error: Exception) -> None:
        """End the exchange under way with ``error`` and close the connection."""
        if not self.complete and self.error is None:
            self.error = error
            self.wake()
            self.close()

    def wake(self) -> None:
        """Resume the task waiting for news, if any."""
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Connected (a stream transport; uvloop's is no subclass of asyncio's)."""
        self.transport = cast("asyncio.Transport", transport)

    def data_received(self, data: bytes) -> None:
        """Bytes from the server: to the parser."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self.fail(HttpError(f"unparsable answer: {error}"))

    def connection_lost(self, exc: Exception | None) -> None:
        """Closed: a body that runs until the close ends here; anything else under way fails."""
        self.open = False
        framing = {b"content-length", b"transfer-encoding"}
        if self.head and not any(name.lower() in framing for name, _ in self.headers):
            self.complete = True
            self.wake()
        self.fail(exc or ConnectionResetError("the server closed the connection"))

    # httptools.HttpResponseParser's callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        """One header line of the answer."""
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        """The head is in: the status."""
        self.status = self.parser.get_status_code()
        self.head = True
        if self.stream:
            self.wake()

    def on_body(self, body: bytes) -> None:
        """A piece of the body (httptools has removed the chunked framing)."""
        self.body.append(body)
        if self.stream:
            self.wake()

    def on_message_complete(self) -> None:
        """The answer is complete."""
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()
        self.wake()


class Http:
    """HTTP/1.1 to one server over keep-alive connections; idle ones wait in a pool."""

    def __init__(self, host: str, port: int, *, timeout: float = HTTP_TIMEOUT) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.authority = f"{host}:{port}"
        self.idle: list[Connection] = []

    async def request(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes | None = None
    ) -> Response:
        """Send a request and read its complete answer.

        As browsers do, a request on a kept-alive connection that the server closed before
        answering anything (its keep-alive timeout crossing our reuse) is sent once more, on a
        new connection.
        """
        request = self._head(method, path, headers, body)
        connection, reused = await self._connection()
        try:
            return await self._exchange(connection, request)
        except ConnectionError:
            if not reused or connection.head:
                raise
        finally:
            self._release(connection)
        connection = await self._connect()
        try:
            return await self._exchange(connection, request)
        finally:
            self._release(connection)

    async def _exchange(self, connection: Connection, request: bytes) -> Response:
        connection.send(request, stream=False, timeout=self.timeout)
        while not connection.complete:
            await connection.wait()
        return connection.response()

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, path: str, headers: Mapping[str, str], *, seconds: float | None = None
    ) -> AsyncIterator[Connection]:
        """Send a request; the connection once the answer's head is in, to :meth:`~Connection.read`.

        A body not read to its end closes the connection.
        """
        connection, _ = await self._connection()
        try:
            connection.send(
                self._head(method, path, headers, None),
                stream=True,
                timeout=seconds or self.timeout,
            )
            while not connection.head:
                await connection.wait()
            yield connection
        finally:
            self._release(connection)

    def close(self) -> None:
        """Close the idle connections."""
        while self.idle:
            self.idle.pop().close()

    async def _connection(self) -> tuple[Connection, bool]:
        """An idle connection (and True), or a new one (and False)."""
        while self.idle:
            connection = self.idle.pop()
            if connection.reusable():
                return connection, True
            connection.close()
        return await self._connect(), False

    async def _connect(self) -> Connection:
        loop = asyncio.get_running_loop()
        _, connection = await asyncio.wait_for(
            loop.create_connection(Connection, self.host, self.port), self.timeout
        )
        return connection

    def _release(self, connection: Connection) -> None:
        if connection.timer is not None:
            connection.timer.cancel()
            connection.timer = None
        if connection.reusable():
            self.idle.append(connection)
        else:
            connection.close()

    def _head(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes | None
    ) -> bytes:
        lines = [f"{method} {path} HTTP/1.1\r\nHost: {self.authority}\r\n"]
        lines += [f"{name}: {value}\r\n" for name, value in headers.items()]
        if body is not None or method in {"POST", "PUT", "PATCH"}:
            lines.append(f"Content-Length: {len(body or b'')}\r\n")
        lines.append("\r\n")
        head = "".join(lines).encode("latin-1")
        return head + body if body else head


class LineSplitter:
    """The lines of a byte stream that arrives in pieces: split at LF, a CR before it dropped."""

    def __init__(self) -> None:
        self.pending = b""

    def feed(self, data: bytes) -> list[str]:
        """The lines ``data`` completes; ``b""`` (the end) gives the unterminated rest."""
        if not data:
            rest, self.pending = self.pending, b""
            return [rest.decode().rstrip("\r")] if rest else []
        *lines, self.pending = (self.pending + data).split(b"\n")
        return [line.decode().rstrip("\r") for line in lines]


# -- the client ----------------------------------------------------------------------------


class Client:
    """Browsers and apps against one server; ``stats`` is the phase now being counted."""

    def __init__(self, http: Http) -> None:
        self.http = http
        self.stats = Stats()

    async def call(  # noqa: PLR0913 - the parts of an HTTP request
        self,
        method: str,
        path: str,
        step: str,
        *,
        cookie: str | None = None,
        json: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        accept: str | None = None,
    ) -> tuple[int, Mapping[str, str], bytes, list[str]]:
        """One request: status, headers, body and the ``Set-Cookie`` values; non-2xx raises."""
        headers = {"User-Agent": USER_AGENT, "Accept": accept or "*/*"}
        if cookie:
            headers["Cookie"] = cookie
        body = None
        if json is not None:
            headers["Content-Type"] = "application/json"
            body = _json_bytes(json)
        elif form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = urllib.parse.urlencode(form).encode()
        response = await self.http.request(method, path, headers, body)
        self.stats.requests += 1
        if not HTTP_OK_FIRST <= response.status < HTTP_OK_END:
            raise StepFailedError(f"{step} {response.status} {response.body[:80]!r}")
        return response.status, response.headers, response.body, response.set_cookies

    async def activate(self, name: str, qr_text: str) -> Device:
        """Activate a fresh P-256 device for the person of ``qr_text``."""
        activation_id, nonce = qr_text.rsplit("/", 1)[1].split("#", 1)
        key = ec.generate_private_key(ec.SECP256R1())
        _, _, body, _ = await self.call(
            "POST",
            f"/api/app/v1/activations/{activation_id}",
            "activate",
            json={
                "nonce": nonce,
                "public_key": spki(key),
                "pin": PIN,
                "label": "bench phone",
                "signature": sign(key, "zorgid-activate-v1", activation_id, nonce),
            },
        )
        answer = _json(body)
        if answer["person"]["name"] != name:
            raise StepFailedError("activate: wrong person")
        return Device(key=key, device_id=answer["device_id"], person_name=name)

    async def healthz(self, _device: Device) -> None:
        """The trivial endpoint, for the ceiling."""
        await self.call("GET", "/healthz", "GET /healthz")

    async def ceremony(self, device: Device) -> None:
        """One complete QR+PIN login, from the login page to the logged-in page."""
        started = time.perf_counter()
        login_id, nonce, token, browser = await self._login_page()
        loop = asyncio.get_running_loop()
        listening: asyncio.Future[None] = loop.create_future()
        approved: asyncio.Future[float] = loop.create_future()
        stream = asyncio.create_task(self._events(login_id, browser, listening, approved))
        waiting: asyncio.Task[str] | None = None
        try:
            await asyncio.wait_for(asyncio.shield(listening), 30)
            app = f"/api/app/v1/logins/{login_id}"
            scan_signature = sign(
                device.key, "zorgid-login-scan-v1", login_id, nonce, device.device_id
            )
            _, _, body, _ = await self.call(
                "POST",
                f"{app}/scan",
                "POST scan",
                json={"nonce": nonce, "device_id": device.device_id, "signature": scan_signature},
            )
            code = _json(body)["code"]
            waiting = asyncio.create_task(self._wait(app, nonce, device.device_id))
            await self.call(
                "POST",
                f"/login/{login_id}/code",
                "POST code",
                cookie=browser,
                form={"code": code, "csrf": token},
                accept="application/json",
            )
            challenge = await waiting
            signature = sign(device.key, "zorgid-login-v1", login_id, challenge, "approve")
            sent = time.perf_counter()
            await self.call(
                "POST",
                f"{app}/answer",
                "POST answer",
                json={
                    "device_id": device.device_id,
                    "decision": "approve",
                    "pin": PIN,
                    "signature": signature,
                },
            )
            answered = time.perf_counter()
            seen = await asyncio.wait_for(asyncio.shield(approved), 30)
            await self._logged_in(login_id, browser, token, device.person_name)
        finally:
            for task in (stream, waiting):
                if task is not None and not task.done():
                    task.cancel()
            await asyncio.gather(stream, *([waiting] if waiting else []), return_exceptions=True)
            for future in (listening, approved):  # a failed step leaves them unread
                if future.done() and not future.cancelled():
                    future.exception()
        stats = self.stats
        stats.ceremonies += 1
        stats.answer_to_event.append(seen - sent)
        stats.response_to_event.append(seen - answered)
        stats.ceremony_seconds.append(time.perf_counter() - started)

    async def _login_page(self) -> tuple[str, str, str, str]:
        """A browser opens the service: login id, nonce, CSRF token and its login cookie."""
        _, _, body, cookies = await self.call("GET", "/", "GET / (login page)")
        page = body.decode()
        login = _LOGIN_ID.search(page)
        qr = _QR.search(page)
        csrf = _CSRF.search(page)
        secret = _cookie(cookies, "zorgid_login")
        if not (login and qr and csrf and secret):
            raise StepFailedError("GET / (login page): no login id, QR, csrf or cookie")
        nonce = html.unescape(qr[1]).partition("#")[2]
        return login[1], nonce, html.unescape(csrf[1]), f"zorgid_login={secret}"

    async def _logged_in(self, login_id: str, browser: str, token: str, name: str) -> None:
        """The approved browser completes its login and sees the person's page."""
        _, _, _, cookies = await self.call(
            "POST",
            f"/login/{login_id}/complete",
            "POST complete",
            cookie=browser,
            form={"csrf": token},
            accept="application/json",
        )
        session = _cookie(cookies, "__Host-zorgid_session")
        if not session:
            raise StepFailedError("POST complete: no session cookie")
        _, _, body, _ = await self.call(
            "GET", "/", "GET / (portal)", cookie=f"__Host-zorgid_session={session}"
        )
        if html.escape(name) not in body.decode():
            raise StepFailedError("GET / (portal): the person's name is missing")

    async def _wait(self, app: str, nonce: str, device_id: str) -> str:
        """The app's long poll until the browser typed the code: the challenge."""
        while True:
            _, _, body, _ = await self.call(
                "POST", f"{app}/wait", "POST wait", json={"nonce": nonce, "device_id": device_id}
            )
            answer = _json(body)
            if answer["state"] == "confirmed":
                return str(answer["challenge"])
            if answer["state"] != "scanned":
                raise StepFailedError(f"POST wait: state {answer['state']}")

    async def _events(
        self,
        login_id: str,
        cookie: str,
        listening: asyncio.Future[None],
        approved: asyncio.Future[float],
    ) -> None:
        """The browser's event stream.

        ``listening`` is resolved at the first event, ``approved`` with the moment the
        ``approved`` event arrived.
        """
        try:
            await self._read_events(login_id, cookie, listening, approved)
        except BaseException as error:
            for future in (listening, approved):
                if not future.done():
                    future.set_exception(
                        error if isinstance(error, Exception) else StepFailedError("events: stop")
                    )
            raise
        for future in (listening, approved):
            if not future.done():
                future.set_exception(StepFailedError("GET events: ended before approved"))

    async def _read_events(
        self,
        login_id: str,
        cookie: str,
        listening: asyncio.Future[None],
        approved: asyncio.Future[float],
    ) -> None:
        headers = {"User-Agent": USER_AGENT, "Cookie": cookie, "Accept": "text/event-stream"}
        async with self.http.stream("GET", f"/login/{login_id}/events", headers) as response:
            self.stats.requests += 1
            if response.status != HTTP_OK_FIRST:
                raise StepFailedError(f"GET events {response.status}")
            kind, lines = "", LineSplitter()
            while chunk := await response.read():
                for line in lines.feed(chunk):
                    kind = _event_line(line, kind, listening, approved)
                    if approved.done():
                        return  # leaves the stream unread: its connection is closed
            for line in lines.feed(b""):
                kind = _event_line(line, kind, listening, approved)


def _event_line(
    line: str, kind: str, listening: asyncio.Future[None], approved: asyncio.Future[float]
) -> str:
    """One line of the event stream, given the kind of the event it is in: the kind after it."""
    if line.startswith("event:"):
        return line[6:].strip()
    if line.startswith("data:") and kind == "state":
        state = _json(line[5:].encode())["state"]
        if not listening.done():
            listening.set_result(None)
        if state == "approved":
            approved.set_result(time.perf_counter())
        elif state in {"completed", "declined", "failed", "expired"}:
            raise StepFailedError(f"GET events: state {state}")
    elif not line:
        return ""
    return kind


def _json_bytes(value: dict[str, str]) -> bytes:
    return json.dumps(value).encode()


def _json(body: bytes) -> dict[str, Any]:
    value = json.loads(body)
    if not isinstance(value, dict):
        raise StepFailedError("not a JSON object")
    return value


def _cookie(set_cookies: list[str], name: str) -> str | None:
    for header in set_cookies:
        pair = header.split(";", 1)[0]
        key, _, value = pair.partition("=")
        if key.strip() == name and value and value != '""':
            return value.strip()
    return None


# -- phases --------------------------------------------------------------------------------


class Traffic:
    """Virtual users (or arrivals) running ``body`` on devices until :attr:`stop` is set."""

    def __init__(
        self, client: Client, devices: list[Device], body: Callable[[Device], Awaitable[None]]
    ) -> None:
        self.client, self.devices, self.body = client, devices, body
        self.stop = asyncio.Event()
        #: Set once every device has finished a ceremony (or ``body``) once.
        self.everyone = asyncio.Event()
        self._finished: set[str] = set()

    async def users(self) -> None:
        """One virtual user per device, each repeating ``body``."""
        await asyncio.gather(*(self._user(device) for device in self.devices))

    async def arrivals(self, rate: float) -> None:
        """An open loop: ``body`` starts ``rate`` times a second (Poisson arrivals).

        Each time on a free device: an arrival that finds none waits for one and is counted
        as delayed.
        """
        loop = asyncio.get_running_loop()
        free: asyncio.Queue[Device] = asyncio.Queue()
        for device in self.devices:
            free.put_nowait(device)
        running: set[asyncio.Task[None]] = set()
        gaps = random.Random(1)  # noqa: S311 - the same arrivals in every run, not a secret
        due = loop.time()

        async def arrive(device: Device) -> None:
            try:
                await self._attempt(device)
            finally:
                free.put_nowait(device)

        while not self.stop.is_set():
            due += gaps.expovariate(rate)
            await asyncio.sleep(max(0.0, due - loop.time()))
            if free.empty():
                self.client.stats.delayed += 1
            task = asyncio.create_task(arrive(await free.get()))
            running.add(task)
            task.add_done_callback(running.discard)
        await asyncio.gather(*running)

    async def _user(self, device: Device) -> None:
        while not self.stop.is_set():
            await self._attempt(device)

    async def _attempt(self, device: Device) -> None:
        stats = self.client.stats
        try:
            await self.body(device)
            self._finished.add(device.device_id)
            if len(self._finished) == len(self.devices):
                self.everyone.set()
        except StepFailedError as error:
            stats.errors[error.key.split(" b'")[0]] += 1
            await asyncio.sleep(0.01)
        except (HttpError, OSError) as error:  # OSError: TimeoutError, ConnectionError
            stats.errors[f"{type(error).__name__}"] += 1
            await asyncio.sleep(0.01)


# -- soak ----------------------------------------------------------------------------------


@dataclass
class Soak:
    """What a soak saw: the server's memory at each mark, and what went wrong."""

    marks: list[tuple[str, Memory]] = field(default_factory=list)
    ceremonies: int = 0
    streams_opened: int = 0
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    seconds: float = 0.0


async def _held_stream(
    client: Client, opened: asyncio.Event, stop: asyncio.Event, soak: Soak
) -> None:
    """A browser that opens the login page and keeps its event stream open until ``stop``.

    A stream the server ends (the login expired) is opened again on a new login, so the
    streams stay open however long the soak runs.
    """
    first = True
    while not stop.is_set():
        try:
            login_id, _, _, browser = await client._login_page()  # noqa: SLF001 - same module
            headers = {"User-Agent": USER_AGENT, "Cookie": browser, "Accept": "text/event-stream"}
            async with client.http.stream(
                "GET", f"/login/{login_id}/events", headers, seconds=24 * 3600.0
            ) as response:
                if response.status != HTTP_OK_FIRST:
                    soak.errors[f"held stream: GET events {response.status}"] += 1
                    await asyncio.sleep(0.1)
                    continue
                soak.streams_opened += 1
                if first:
                    opened.set()
                    first = False
                reading = asyncio.ensure_future(_drain(response))
                stopping = asyncio.ensure_future(stop.wait())
                await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
                for task in (reading, stopping):
                    task.cancel()
                await asyncio.gather(reading, stopping, return_exceptions=True)
        except (StepFailedError, HttpError, OSError) as error:
            key = error.key if isinstance(error, StepFailedError) else type(error).__name__
            soak.errors[f"held stream: {key.split(' b')[0]}"] += 1
            await asyncio.sleep(0.1)
        finally:
            if first:  # failed before it was open: do not keep the soak waiting for it
                opened.set()
                first = False


async def _drain(response: Connection) -> None:
    while await response.read():
        pass


async def soak(
    client: Client,
    devices: list[Device],
    *,
    ceremonies: int,
    streams: int,
    server_pid: int,
) -> Soak:
    """Browsers hold ``streams`` event streams open while ``devices`` log in ``ceremonies`` times.

    The server's memory is read before, with the streams open, every tenth of the way, after
    the ceremonies and after the streams closed.
    """
    result = Soak()
    result.marks.append(("start", Memory.of(server_pid)))
    started = time.perf_counter()
    stop_streams = asyncio.Event()
    holders = []
    for first in range(0, streams, STREAMS_AT_ONCE):  # browsers arrive in waves
        openings = [asyncio.Event() for _ in range(min(STREAMS_AT_ONCE, streams - first))]
        holders += [
            asyncio.create_task(_held_stream(client, opened, stop_streams, result))
            for opened in openings
        ]
        await asyncio.gather(*(opened.wait() for opened in openings))
    result.marks.append((f"{streams} streams open", Memory.of(server_pid)))
    client.stats = Stats()
    traffic = Traffic(client, devices, client.ceremony)
    users = asyncio.create_task(traffic.users())
    step = max(1, ceremonies // 10)
    next_mark = step
    while client.stats.ceremonies < ceremonies:
        await asyncio.sleep(0.5)
        if client.stats.ceremonies >= next_mark:
            done = client.stats.ceremonies
            result.marks.append((f"{done} ceremonies", Memory.of(server_pid)))
            print(
                f"  soak: {done} ceremonies, server RSS {result.marks[-1][1].now:.0f} MiB",
                file=sys.stderr,
            )
            next_mark += step
    traffic.stop.set()
    await users
    result.ceremonies = client.stats.ceremonies
    result.errors.update(client.stats.errors)
    result.marks.append(("after the ceremonies, streams open", Memory.of(server_pid)))
    stop_streams.set()
    await asyncio.gather(*holders)
    await asyncio.sleep(2)  # the server lets the closed streams go
    result.marks.append(("streams closed", Memory.of(server_pid)))
    result.seconds = time.perf_counter() - started
    return result


def report_soak(kind: str, result: Soak, *, limit: float) -> bool:
    """Print a soak's memory marks; whether the server stayed within ``limit`` MiB."""
    print(
        f"\n{kind}: soak of {result.ceremonies} ceremonies in {result.seconds:.0f} s "
        f"({result.ceremonies / result.seconds:.0f}/s) with event streams held open "
        f"({result.streams_opened} opened in all)"
    )
    print("  server RSS MiB   peak so far   at")
    for name, memory in result.marks:
        print(f"  {memory.now:14.0f}  {memory.peak:12.0f}   {name}")
    last = max(memory.now for name, memory in result.marks[-2:])
    ok = last <= limit and not result.errors
    verdict = "met" if last <= limit else "MISSED"
    print(f"  after the soak {last:.0f} MiB: target <= {limit:g} MiB {verdict}")
    if result.errors:
        print("  SOAK WITH ERRORS:")
        for key, number in result.errors.most_common():
            print(f"      {number:6d}  {key}")
    return ok


async def load(  # noqa: PLR0913 - the knobs of one phase
    client: Client,
    devices: list[Device],
    body: Callable[[Device], Awaitable[None]],
    *,
    warmup: float,
    seconds: float,
    server_pid: int,
    database: str | None,
    profile: Path | None = None,
    rate: float | None = None,
) -> Phase:
    """One virtual user per device repeating ``body``; counts only the measured window.

    With ``rate``, an open loop at that rate instead (:meth:`Traffic.arrivals`).
    """
    traffic = Traffic(client, devices, body)
    stop, everyone = traffic.stop, traffic.everyone
    client.stats = Stats()
    pinning = asyncio.create_task(backends_pinned(database, stop)) if database else None
    users = [asyncio.create_task(traffic.users() if rate is None else traffic.arrivals(rate))]
    # Warm up for ``warmup`` seconds and until every user has finished a round (at most 60 s
    # more), so that the window sees users in every step, not all starting at once.
    await asyncio.sleep(warmup)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(everyone.wait(), 60)
    client.stats = measured = Stats()
    window_over = asyncio.Event()
    meter = asyncio.create_task(postgres_meter(database, window_over)) if database else None
    with py_spy(server_pid, profile, seconds) as hot:
        start_wall, start = time.perf_counter(), Cpu.now(server_pid)
        await asyncio.sleep(seconds)
        wall = time.perf_counter() - start_wall
        cpu = Cpu.now(server_pid).minus(start, wall)
    client.stats = Stats()  # what finishes after the window is not counted
    window_over.set()
    if meter is not None:
        pg_seconds, opened = await meter
        cpu = dataclasses.replace(cpu, postgres=pg_seconds / wall, sessions=opened / wall)
    stop.set()
    await asyncio.gather(*users, *([pinning] if pinning else []))
    return Phase(wall, measured, cpu, hot)


@contextlib.asynccontextmanager
async def served(
    env: dict[str, str], devices: int
) -> AsyncIterator[tuple[Client, list[Device], subprocess.Popen[bytes]]]:
    """A server on ``env`` with ``devices`` activated devices, after one ceremony that works."""
    port = free_port()
    env = {**env, "ZORGID_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    people = prepare(env, devices)
    log = Path(env["ZORGID_DATA_DIR"]) / "server.log"
    http = Http("127.0.0.1", port)
    try:
        with server(env, port, log) as process:
            try:
                await until_ready(http, process)
                client = Client(http)
                activated = [await client.activate(name, qr) for name, qr in people]
                # One ceremony first: a broken server fails here, clearly, not as a rate of 0.
                await client.ceremony(activated[0])
                yield client, activated, process
            except BaseException:
                print(f"server log ({log}):\n" + log.read_text()[-3000:], file=sys.stderr)
                raise
    finally:
        http.close()


async def measure(  # noqa: PLR0913 - the knobs of one database's run
    env: dict[str, str],
    user_counts: list[int],
    *,
    kind: str,
    warmup: float,
    seconds: float,
    profile: str | None,
    rate: float | None = None,
) -> list[Row]:
    """Start the server on ``env`` and measure every concurrency level against it.

    With ``rate``, then an open loop at that rate on the devices of the most users.
    """
    rows = []
    count = max([*user_counts, OPEN_LOOP_DEVICES] if rate else user_counts)
    async with served(env, count) as (client, devices, process):
        database = env.get("ZORGID_DATABASE_URL", "").rpartition("/")[2] or None
        # Each closed loop, then the open one (None: a closed loop of ``users``).
        loops: list[tuple[int, float | None]] = [(users, None) for users in user_counts]
        loops += [(len(devices), rate)] if rate else []
        for users, offered in loops:
            run = functools.partial(
                load,
                client,
                devices[:users],
                warmup=warmup,
                server_pid=process.pid,
                database=database,
            )
            before = await run(client.healthz, seconds=seconds / 2)
            name = users if offered is None else "rate"
            out = Path(f"{profile}-{kind}-{name}.txt") if profile else None
            memory = Memory.of(process.pid)
            ceremonies = await run(client.ceremony, seconds=seconds, profile=out, rate=offered)
            memory_after = Memory.of(process.pid)
            after = await run(client.healthz, seconds=seconds / 2)
            rows.append(Row(users, ceremonies, (before, after), (memory, memory_after), offered))
    return rows


async def measure_soak(env: dict[str, str], users: int, *, ceremonies: int, streams: int) -> Soak:
    """Start the server on ``env`` and soak it (:func:`soak`) with ``users`` virtual users."""
    async with served(env, users) as (client, devices, process):
        return await soak(
            client, devices, ceremonies=ceremonies, streams=streams, server_pid=process.pid
        )


@contextlib.contextmanager
def py_spy(pid: int, out: Path | None, seconds: float) -> Iterator[list[tuple[str, int]]]:
    """When ``out`` is given, sample the server with py-spy for ``seconds`` from now."""
    top: list[tuple[str, int]] = []
    if out is None:
        yield top
        return
    spy = shutil.which("py-spy")
    if spy is None:
        raise SystemExit("--profile needs py-spy: uv run --with py-spy python bench/login.py ...")
    command = [spy, "record", "--pid", str(pid), "--format", "raw", "--output", str(out)]
    command += ["--rate", "200", "--duration", str(max(1, round(seconds))), "--nonblocking"]
    recorder = subprocess.Popen(
        [*command, "--gil"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield top
    finally:
        try:
            recorder.wait(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            recorder.kill()
            recorder.wait()
        if out.exists():
            top.extend(collapsed_top(out, 10))


# -- output --------------------------------------------------------------------------------


def report(kind: str, rows: list[Row], *, warmup: float, seconds: float) -> None:
    """Print one database's tables, the targets and any errors."""
    print(
        f"\n{kind}: server pinned to core {SERVER_CORE}, client"
        f"{' and PostgreSQL backends' if kind == 'postgresql' else ''} to core {CLIENT_CORE}; "
        f"ceremonies {seconds:g} s after a warm-up of at least {warmup:g} s; ceiling "
        f"GET /healthz {seconds / 2:g} s before and after"
    )
    print(
        " users  ceremonies/s   req/s  req/ceremony  ceiling req/s (before/after)  ratio"
        "   approval→browser ms   response→browser ms  errors"
    )
    print(f"{'p50     p99':>104s}{'p50     p99':>22s}")
    for row in rows:
        phase, stats = row.ceremonies, row.ceremonies.stats
        per = stats.requests / stats.ceremonies if stats.ceremonies else float("nan")
        a50, a99 = (percentile(stats.answer_to_event, q) * 1000 for q in (0.5, 0.99))
        r50, r99 = (percentile(stats.response_to_event, q) * 1000 for q in (0.5, 0.99))
        around = f"({row.ceilings[0].request_rate:.0f}/{row.ceilings[1].request_rate:.0f})"
        print(
            f" {row.label}  {phase.ceremony_rate:12.1f}  {phase.request_rate:6.0f}"
            f"  {per:12.2f}  {row.ceiling:13.0f} {around:>13s}"
            f"  {phase.request_rate / row.ceiling:5.2f}   {a50:8.1f} {a99:8.1f}"
            f"     {r50:8.1f} {r99:8.1f}  {sum(row.errors.values()):6d}"
        )
    print(
        " users  CPU in the window, share of a core: server  client  postgres  others on core 0"
        "  core 1   server CPU ms: per ceremony  per request  per /healthz   PG sessions/s"
    )
    for row in rows:
        phase, cpu = row.ceremonies, row.ceremonies.cpu
        pg = "-" if cpu.postgres is None else f"{cpu.postgres:.0%}"
        sessions = "-" if cpu.sessions is None else f"{cpu.sessions:.0f}"
        per_ceremony = cpu.server * 1000 / phase.ceremony_rate if phase.ceremony_rate else 0.0
        per_request = cpu.server * 1000 / phase.request_rate if phase.request_rate else 0.0
        per_health = statistics.mean(
            p.cpu.server * 1000 / p.request_rate if p.request_rate else 0.0 for p in row.ceilings
        )
        print(
            f" {row.label}{'':37s}{cpu.server:6.0%}  {cpu.client:6.0%}  {pg:>8s}"
            f"  {cpu.others(SERVER_CORE):16.0%}  {cpu.others(CLIENT_CORE):6.0%}"
            f"  {per_ceremony:26.1f}  {per_request:11.2f}  {per_health:12.2f}  {sessions:>14s}"
        )
    print(" users  server RSS MiB: before  after  peak so far")
    for row in rows:
        before, after = row.memory
        print(f" {row.label}{'':16s}{before.now:6.0f} {after.now:6.0f} {after.peak:6.0f}")
    for row in rows:
        _verdict(row)


def _verdict(row: Row) -> None:
    """The lines under the tables for ``row``: its targets, warnings, errors and profile."""
    phase = row.ceremonies
    p99 = percentile(phase.stats.answer_to_event, 0.99) * 1000
    p99_ok = p99 <= TARGET_P99_MS
    ceremony_p50 = percentile(phase.stats.ceremony_seconds, 0.5) * 1000
    if row.rate is None:
        who, delayed = f"{row.users} users", ""
        rate_ok = phase.ceremony_rate >= TARGET_RATE
    else:
        # Offered, not pushed: the server kept up when it completed about what arrived (Poisson
        # arrivals vary by a few per cent over a window) and no arrival had to wait.
        who = f"open loop at {row.rate:g}/s on {row.users} devices"
        delayed = f", {phase.stats.delayed} arrivals waited for a free device"
        rate_ok = phase.ceremony_rate >= row.rate * 0.9 and not phase.stats.delayed
    print(
        f"  {who}: {phase.stats.ceremonies} ceremonies (p50 {ceremony_p50:.0f} ms "
        f"each{delayed}); target >= {TARGET_RATE:g}/s {'met' if rate_ok else 'MISSED'}, "
        f"p99 <= {TARGET_P99_MS:g} ms {'met' if p99_ok else 'MISSED'}"
    )
    busiest = max([phase, *row.ceilings], key=lambda p: p.cpu.client)
    if busiest.cpu.client >= CLIENT_BUSY:
        print(
            f"  {who}: the CLIENT used {busiest.cpu.client:.0%} of its core: "
            "it may be what limits these figures"
        )
    noisy = max(p.cpu.others(SERVER_CORE) for p in (phase, *row.ceilings))
    if noisy >= NOISY:
        print(
            f"  {who}: other processes took up to {noisy:.0%} of the server's "
            "core: the figures are low by about that much"
        )
    if row.errors:
        print(f"  {who}: RUN WITH ERRORS:")
        for key, number in row.errors.most_common():
            print(f"      {number:6d}  {key}")
    if phase.hot:
        total = phase.hot[0][1] or 1
        print(f"  {who}: py-spy --gil, the server's own samples ({total}):")
        for name, number in phase.hot[1:]:
            print(f"      {number / total:6.1%}  {name}")


def main() -> None:
    """Measure and print ceremonies per second and latencies on each database."""
    parser = argparse.ArgumentParser(description="QR+PIN login ceremonies per second")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--users", default="16,64", help="concurrency levels, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--profile", metavar="PREFIX", help="py-spy the server (see docstring)")
    parser.add_argument(
        "--rate",
        type=float,
        default=TARGET_RATE,
        help="then an open loop: ceremonies arriving at this rate per second (0: none)",
    )
    parser.add_argument(
        "--soak",
        type=int,
        metavar="N",
        help="instead: N ceremonies by the most users while --streams event streams stay open, "
        "reading the server's memory along the way",
    )
    parser.add_argument("--streams", type=int, default=2000, help="held event streams (--soak)")
    args = parser.parse_args()
    user_counts = [int(n) for n in args.users.split(",")]
    warmup, seconds = args.warmup, args.seconds
    if args.quick:
        user_counts, warmup, seconds = [8], 0.5, 2.0
    if {SERVER_CORE, CLIENT_CORE} <= os.sched_getaffinity(0):
        os.sched_setaffinity(0, {CLIENT_CORE})
    else:
        print("warning: fewer than two cores; client and server share one", file=sys.stderr)
    failed = False
    for kind in args.databases.split(","):
        if kind not in {"sqlite", "postgresql"}:
            parser.error(f"unknown database {kind!r}")
        # The client on uvloop too (as uvicorn runs the server): half the loop's CPU.
        with database(kind) as env, asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            if args.soak:
                soaked = runner.run(
                    measure_soak(env, max(user_counts), ceremonies=args.soak, streams=args.streams)
                )
                failed = not report_soak(kind, soaked, limit=SOAK_LIMIT_MIB) or failed
                continue
            rows = runner.run(
                measure(
                    env,
                    user_counts,
                    kind=kind,
                    warmup=warmup,
                    seconds=seconds,
                    profile=args.profile,
                    rate=args.rate or None,
                )
            )
        report(kind, rows, warmup=warmup, seconds=seconds)
        failed = failed or any(row.errors for row in rows)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
