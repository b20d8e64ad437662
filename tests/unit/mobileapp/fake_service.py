"""A stand-in for the service's app API, over real HTTP on loopback, for the app's own tests.

It implements the app side of docs/protocol.md as literally as the document states it, with
its own signing strings (not the app's), and checks every signature with ``cryptography``, so
that a test passing here means the app speaks the protocol as written. The real service is
tested against the app separately; this fake stays small and says what each request was.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)

MEMBERSHIPS = [
    {"role": "administrator", "organisation": {"ura": "90000123", "name": "De Linde"}},
    {"role": "gebruiker", "organisation": {"ura": "90000123", "name": "De Linde"}},
    {"role": "beheerder", "organisation": {"ura": "90000456", "name": "Het Anker"}},
    {"role": "operator", "organisation": None},
]


def token() -> str:
    return secrets.token_urlsafe(16)


def b64decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


@dataclass
class Device:
    public_key: ec.EllipticCurvePublicKey
    pin: str
    label: str
    status: str = "active"
    failures: int = 0


@dataclass
class Login:
    nonce: str
    challenge: str = field(default_factory=token)
    code: str = "123456"
    state: str = "pending"
    device_id: str | None = None
    #: How many wait requests answer "scanned" before the login is confirmed by itself
    #: (None: only :meth:`FakeService.confirm` confirms it).
    scanned_waits: int | None = 0


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeService:
    """The protocol's state: activation codes, devices, logins; and what was asked."""

    def __init__(self) -> None:
        self.base_url = ""
        self.activations: dict[str, str] = {}
        self.devices: dict[str, Device] = {}
        self.logins: dict[str, Login] = {}
        self.requests: list[Request] = []
        self.changed = threading.Condition()
        #: Answer every request with this (status, body bytes, content type) when set.
        self.override: tuple[int, bytes, str] | None = None
        self.max_pin_failures = 3

    # --- what a test sets up ----------------------------------------------------------------

    def new_activation(self) -> str:
        activation_id, nonce = token(), token()
        self.activations[activation_id] = nonce
        return f"{self.base_url}/app/activeer/{activation_id}#{nonce}"

    def new_login(self, *, scanned_waits: int | None = 0) -> tuple[str, str]:
        login_id, nonce = token(), token()
        self.logins[login_id] = Login(nonce=nonce, scanned_waits=scanned_waits)
        return login_id, f"{self.base_url}/app/login/{login_id}#{nonce}"

    def confirm(self, login_id: str) -> None:
        with self.changed:
            self.logins[login_id].state = "confirmed"
            self.changed.notify_all()

    def set_login_state(self, login_id: str, state: str) -> None:
        with self.changed:
            self.logins[login_id].state = state
            self.changed.notify_all()

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    # --- the protocol ----------------------------------------------------------------------

    def handle(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if m := re.fullmatch(r"/api/app/v1/activations/([\w-]+)", path):
            return self._activate(m[1], body)
        if m := re.fullmatch(r"/api/app/v1/devices/([\w-]+)/status", path):
            return self._status(m[1], body)
        if m := re.fullmatch(r"/api/app/v1/logins/([\w-]+)/scan", path):
            return self._scan(m[1], body)
        if m := re.fullmatch(r"/api/app/v1/logins/([\w-]+)/wait", path):
            return self._wait(m[1], body)
        if m := re.fullmatch(r"/api/app/v1/logins/([\w-]+)/answer", path):
            return self._answer(m[1], body)
        return 404, {"error": {"code": "not_found", "message": "no such path"}}

    def _activate(self, activation_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        assert set(body) == {"nonce", "public_key", "pin", "label", "signature"}, body
        if self.activations.get(activation_id) != body["nonce"]:
            return error(404, "activation_unknown", "Onbekende activeringscode.")
        key = load_der_public_key(b64decode(body["public_key"]))
        assert isinstance(key, ec.EllipticCurvePublicKey)
        assert key.curve.name == "secp256r1"
        signed = f"zorgid-activate-v1\n{activation_id}\n{body['nonce']}"
        if not verify(key, signed, body["signature"]):
            return error(400, "signature_invalid", "Handtekening ongeldig.")
        del self.activations[activation_id]
        device_id = token()
        self.devices[device_id] = Device(public_key=key, pin=body["pin"], label=body["label"])
        return 201, self.identity(device_id)

    def identity(self, device_id: str) -> dict[str, Any]:
        device = self.devices[device_id]
        answer: dict[str, Any] = {
            "device_id": device_id,
            "service": {"name": "ZORG-ID", "url": self.base_url},
            "person": {"name": "Petra de Vries"},
            "memberships": MEMBERSHIPS,
            "status": device.status,
        }
        if device.status != "active":
            answer["wipe"] = True
        return answer

    def _status(self, device_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        assert set(body) == {"timestamp", "signature"}, body
        device = self.devices.get(device_id)
        if device is None:
            return error(404, "device_unknown", "Onbekend apparaat.")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["timestamp"]), body
        signed = f"zorgid-status-v1\n{device_id}\n{body['timestamp']}"
        if not verify(device.public_key, signed, body["signature"]):
            return error(400, "signature_invalid", "Handtekening ongeldig.")
        return 200, self.identity(device_id)

    def _scan(self, login_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        assert set(body) == {"nonce", "device_id", "signature"}, body
        login = self.logins.get(login_id)
        if login is None or login.nonce != body["nonce"]:
            return error(404, "login_unknown", "Onbekende inlog.")
        device = self.devices.get(body["device_id"])
        if device is None:
            return error(404, "device_unknown", "Onbekend apparaat.")
        if device.status != "active":
            return error(403, f"device_{device.status}", "Dit apparaat is niet meer bruikbaar.")
        signed = f"zorgid-login-scan-v1\n{login_id}\n{body['nonce']}\n{body['device_id']}"
        if not verify(device.public_key, signed, body["signature"]):
            return error(400, "signature_invalid", "Handtekening ongeldig.")
        if login.device_id not in {None, body["device_id"]}:
            return error(409, "login_taken", "Al gescand.")
        with self.changed:
            login.device_id, login.state = body["device_id"], "scanned"
        return 200, {
            "service": {"name": "ZORG-ID Portaal", "host": "portaal.zorgid.example"},
            "requested_at": "2026-11-28T12:00:00Z",
            "expires_at": "2026-11-28T12:05:00Z",
            "browser": {"ip": "203.0.113.7", "user_agent": "Mozilla/5.0 \x1b[31mred\x1b[0m"},
            "code": login.code,
        }

    def _wait(self, login_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        assert set(body) == {"nonce", "device_id"}, body
        login = self.logins.get(login_id)
        if login is None or login.nonce != body["nonce"] or login.device_id != body["device_id"]:
            return error(404, "login_unknown", "Onbekende inlog.")
        with self.changed:
            if login.state == "scanned" and login.scanned_waits is not None:
                if login.scanned_waits == 0:
                    login.state = "confirmed"
                login.scanned_waits -= 1
            # A long poll, shortened: a state change or a second, whichever comes first.
            self.changed.wait_for(lambda: login.state != "scanned", timeout=1.0)
            state = login.state
        answer = {"state": state}
        if state == "confirmed":
            answer["challenge"] = login.challenge
        return 200, answer

    def _answer(self, login_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        login = self.logins[login_id]
        device = self.devices[body["device_id"]]
        decision = body["decision"]
        expected = {"device_id", "decision", "signature"} | (
            {"pin"} if decision == "approve" else set()
        )
        assert set(body) == expected, body
        # A decline before the browser confirmed signs an empty challenge (protocol.md).
        challenge = login.challenge if login.state == "confirmed" else ""
        signed = f"zorgid-login-v1\n{login_id}\n{challenge}\n{login.code}\n{decision}"
        if not verify(device.public_key, signed, body["signature"]):
            return error(400, "signature_invalid", "Handtekening ongeldig.")
        if decision == "decline":
            login.state = "declined"
            return 200, {"state": "declined", "person": {"name": "Petra de Vries"}}
        assert login.state == "confirmed"
        if body["pin"] != device.pin:
            device.failures += 1
            left = self.max_pin_failures - device.failures
            if left <= 0:
                device.status = "blocked"
                return error(403, "device_blocked", "Apparaat geblokkeerd: activeer opnieuw.")
            return error(401, "pin_wrong", "Onjuiste pincode.", remaining_attempts=left)
        login.state = "approved"
        return 200, {"state": "approved", "person": {"name": "Petra de Vries"}}


def error(status: int, code: str, message: str, **extra: int) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"code": code, "message": message, **extra}}


def verify(key: ec.EllipticCurvePublicKey, signed: str, signature: str) -> bool:
    try:
        key.verify(b64decode(signature), signed.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        service = self.server.service
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length))
        service.requests.append(Request(self.path, dict(self.headers.items()), body))
        if service.override is not None:
            status, data, content_type = service.override
        else:
            status, answer = service.handle(self.path, body)
            data, content_type = json.dumps(answer).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, service: FakeService) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.service = service


def serve(service: FakeService) -> tuple[_Server, threading.Thread]:
    """Start ``service`` on a free loopback port; its ``base_url`` is set."""
    server = _Server(service)
    service.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    return server, thread
