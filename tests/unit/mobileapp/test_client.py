"""The app API client: the requests of protocol.md, and every kind of answer mapped to an error."""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from zorgid.mobileapp.client import MAX_ANSWER_BYTES, AppClient
from zorgid.mobileapp.errors import (
    DeviceBlockedError,
    PinWaitError,
    PinWrongError,
    ServiceRefusedError,
    ServiceResponseError,
    ServiceTimeoutError,
    ServiceUnreachableError,
)
from zorgid.mobileapp.signing import b64url_decode, new_device_key

if TYPE_CHECKING:
    from collections.abc import Callable

BASE = "https://zorgid.example/prefix"
IDENTITY = {
    "device_id": "dev-1",
    "service": {"name": "ZORG-ID", "url": BASE},
    "person": {"name": "Petra de Vries"},
    "memberships": [
        {"role": "administrator", "organisation": {"ura": "90000123", "name": "De Linde"}},
        {"role": "operator", "organisation": None},
    ],
    "status": "active",
}
SCAN = {
    "service": {"name": "Portaal", "host": "portaal.example"},
    "requested_at": "2026-11-28T12:00:00Z",
    "expires_at": "2026-11-28T12:05:00Z",
    "browser": {"ip": "203.0.113.7", "user_agent": "Firefox"},
    "code": "123456",
}


class Recorder:
    """A transport that answers with one fixed response and keeps the requests."""

    def __init__(self, status: int = 200, body: object = None, **kwargs: Any) -> None:
        self.requests: list[httpx.Request] = []
        self.status, self.body, self.kwargs = status, body, kwargs

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if "content" in self.kwargs:
            return httpx.Response(self.status, **self.kwargs)
        return httpx.Response(self.status, json=self.body, **self.kwargs)

    def body_of(self, index: int = -1) -> dict[str, Any]:
        body = json.loads(self.requests[index].content)
        assert isinstance(body, dict)
        return body


def client(handler: Callable[[httpx.Request], httpx.Response], lang: str = "nl") -> AppClient:
    return AppClient(BASE, lang=lang, http=httpx.Client(transport=httpx.MockTransport(handler)))


def verifies(public_key_b64: str, signature: str, signed: str) -> bool:
    public = load_der_public_key(b64url_decode(public_key_b64))
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(b64url_decode(signature), signed.encode(), ec.ECDSA(hashes.SHA256()))
    return True


def test_activation_posts_the_protocols_body_with_a_proof_of_the_key() -> None:
    recorder = Recorder(201, IDENTITY)
    key = new_device_key()
    identity = client(recorder, lang="en").activate(
        "ACT", nonce="NONCE", key=key, pin="13579", label="test"
    )
    request = recorder.requests[0]
    assert request.method == "POST"
    assert str(request.url) == f"{BASE}/api/app/v1/activations/ACT"
    assert request.headers["accept-language"] == "en"
    assert request.headers["content-type"] == "application/json"
    body = recorder.body_of()
    assert set(body) == {"nonce", "public_key", "pin", "label", "signature"}
    assert (body["nonce"], body["pin"], body["label"]) == ("NONCE", "13579", "test")
    assert verifies(body["public_key"], body["signature"], "zorgid-activate-v1\nACT\nNONCE")
    assert identity.person_name == "Petra de Vries"
    assert identity.roles() == ("administrator", "operator")


def test_status_is_signed_over_device_and_timestamp() -> None:
    recorder = Recorder(200, {**IDENTITY, "status": "revoked", "wipe": True})
    key = new_device_key()
    identity = client(recorder).device_status("dev-1", key=key, timestamp="2026-11-28T12:00:00Z")
    body = recorder.body_of()
    assert set(body) == {"timestamp", "signature"}
    public = key.public_key()
    public.verify(
        b64url_decode(body["signature"]),
        b"zorgid-status-v1\ndev-1\n2026-11-28T12:00:00Z",
        ec.ECDSA(hashes.SHA256()),
    )
    assert identity.wipe
    assert str(recorder.requests[0].url).endswith("/api/app/v1/devices/dev-1/status")


def test_scan_wait_and_answer_send_what_the_protocol_says() -> None:
    answers = iter(
        [
            httpx.Response(200, json=SCAN),
            httpx.Response(200, json={"state": "confirmed", "challenge": "C" * 22}),
            httpx.Response(200, json={"state": "approved", "person": {"name": "Petra"}}),
        ]
    )
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return next(answers)

    key = new_device_key()
    app = client(handler)
    request = app.scan_login("L", nonce="N", device_id="D", key=key)
    progress = app.wait_login("L", nonce="N", device_id="D")
    outcome = app.answer_login(
        "L",
        device_id="D",
        key=key,
        challenge=progress.challenge or "",
        code=request.code,
        decision="approve",
        pin="13579",
    )
    bodies = [json.loads(r.content) for r in seen]
    assert set(bodies[0]) == {"nonce", "device_id", "signature"}
    assert bodies[1] == {"nonce": "N", "device_id": "D"}
    assert set(bodies[2]) == {"device_id", "decision", "pin", "signature"}
    key.public_key().verify(
        b64url_decode(bodies[0]["signature"]),
        b"zorgid-login-scan-v1\nL\nN\nD",
        ec.ECDSA(hashes.SHA256()),
    )
    key.public_key().verify(
        b64url_decode(bodies[2]["signature"]),
        f"zorgid-login-v1\nL\n{'C' * 22}\n123456\napprove".encode(),
        ec.ECDSA(hashes.SHA256()),
    )
    assert (request.code, request.host, outcome.state) == ("123456", "portaal.example", "approved")


def test_a_decline_carries_no_pin() -> None:
    recorder = Recorder(200, {"state": "declined"})
    key = new_device_key()
    client(recorder).answer_login(
        "L", device_id="D", key=key, challenge="", code="123456", decision="decline"
    )
    body = recorder.body_of()
    assert set(body) == {"device_id", "decision", "signature"}
    key.public_key().verify(
        b64url_decode(body["signature"]),
        b"zorgid-login-v1\nL\n\n123456\ndecline",
        ec.ECDSA(hashes.SHA256()),
    )


def test_a_protocol_error_carries_the_services_code_and_text() -> None:
    body = {"error": {"code": "pin_wrong", "message": "Onjuiste pincode.", "remaining_attempts": 2}}
    with pytest.raises(PinWrongError) as caught:
        client(Recorder(401, body)).wait_login("L", nonce="N", device_id="D")
    error = caught.value
    assert (error.code, error.remaining_attempts, error.exit_code) == ("pin_wrong", 2, 1)
    assert error.public_message("nl").startswith("Onjuiste pincode. ")
    assert "2" in error.public_message("nl")
    assert "Attempts left: 2." in error.public_message("en")


def test_attempts_and_waits_beside_the_error_object_are_read_too() -> None:
    body = {
        "error": {"code": "pin_wait", "message": "Wacht even."},
        "retry_after": 120,
        "remaining_attempts": 1,
    }
    with pytest.raises(PinWaitError) as caught:
        client(Recorder(429, body)).wait_login("L", nonce="N", device_id="D")
    assert (caught.value.retry_after, caught.value.remaining_attempts) == (120, 1)
    assert "120" in caught.value.public_message("en")


def test_a_retry_after_header_counts_when_the_body_has_none() -> None:
    body = {"error": {"code": "activation_locked", "message": "Te vaak."}}
    with pytest.raises(ServiceRefusedError) as caught:
        client(Recorder(429, body, headers={"Retry-After": "60"})).wait_login(
            "L", nonce="N", device_id="D"
        )
    assert (caught.value.code, caught.value.retry_after) == ("activation_locked", 60)


def test_device_blocked_is_a_device_gone_error() -> None:
    body = {"error": {"code": "device_blocked", "message": "Geblokkeerd."}}
    with pytest.raises(DeviceBlockedError):
        client(Recorder(403, body)).wait_login("L", nonce="N", device_id="D")


def test_a_code_newer_than_the_app_still_carries_the_services_code() -> None:
    body = {"error": {"code": "something_new", "message": "Iets nieuws."}}
    with pytest.raises(ServiceRefusedError) as caught:
        client(Recorder(400, body)).wait_login("L", nonce="N", device_id="D")
    assert caught.value.code == "something_new"
    assert caught.value.public_message("nl") == "Iets nieuws."


def test_control_characters_in_the_services_text_do_not_reach_the_terminal() -> None:
    body = {"error": {"code": "bad_request", "message": "\x1b]0;pwned\x07Fout\r\nregel\u202e"}}
    with pytest.raises(ServiceRefusedError) as caught:
        client(Recorder(400, body)).wait_login("L", nonce="N", device_id="D")
    message = caught.value.public_message("nl")
    assert not any(ord(c) < 32 or c == "\u202e" for c in message)
    assert "Fout" in message


@pytest.mark.parametrize(
    ("status", "kwargs"),
    [
        (500, {"json": {"error": {"code": "internal", "message": "x"}}}),
        (502, {"content": b"<html>Bad Gateway</html>"}),
        (200, {"content": b"not json", "headers": {"Content-Type": "application/json"}}),
        (200, {"content": b'{"state": "confirmed"}', "headers": {"Content-Type": "text/html"}}),
        (200, {"json": {"state": "confirmed"}}),  # no challenge
        (200, {"json": {"state": "confirmed", "challenge": "short"}}),
        (200, {"json": ["a list"]}),
        (302, {"headers": {"Location": "https://evil.example/"}, "content": b""}),
        (404, {"content": b"Not Found"}),
        (400, {"json": {"error": {"code": "Bad Code!", "message": "x"}}}),
        (200, {"content": b"[" * 100_000, "headers": {"Content-Type": "application/json"}}),
        (200, {"content": b" " * (MAX_ANSWER_BYTES + 1)}),
    ],
)
def test_anything_outside_the_protocol_is_an_unexpected_answer(
    status: int, kwargs: dict[str, Any]
) -> None:
    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status, **kwargs)

    with pytest.raises(ServiceResponseError) as caught:
        client(handler).wait_login("L", nonce="N", device_id="D")
    assert caught.value.exit_code == 2
    assert BASE in caught.value.public_message("en")


def test_an_identity_answer_with_a_wrong_shape_is_unexpected() -> None:
    for broken in (
        {**IDENTITY, "status": "dormant"},
        {**IDENTITY, "device_id": "../../etc"},
        {**IDENTITY, "memberships": [{"role": "admin", "organisation": {"ura": "123"}}]},
        {**IDENTITY, "person": None},
    ):
        with pytest.raises(ServiceResponseError):
            client(Recorder(200, broken)).device_status(
                "dev-1", key=new_device_key(), timestamp="t"
            )


def test_a_timeout_is_reported_as_such() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(ServiceTimeoutError) as caught:
        client(handler).wait_login("L", nonce="N", device_id="D")
    assert caught.value.exit_code == 2


def test_a_refused_connection_names_the_service_url() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}"
    with AppClient(url, lang="en") as app, pytest.raises(ServiceUnreachableError) as caught:
        app.wait_login("L", nonce="N", device_id="D")
    assert caught.value.code == "service_unreachable"
    assert url in caught.value.public_message("en")
