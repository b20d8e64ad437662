"""The app API client: the requests of protocol.md, and every kind of answer mapped to an error.

The service's real answers come from the real service on loopback (``live``); the requests the
client sends there are recorded on the way (an httpx event hook) and checked against
protocol.md's own signing strings. Answers our service never gives (a newer service's codes,
other shapes protocol.md allows, broken proxies, hostile text) come from httpx.MockTransport.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from tests.support.identity_flows import add_operator, revoke_device
from tests.unit.mobileapp.conftest import PIN, WRONG_PIN, Portal, open_portal
from zorgid.core.protocol import b64url_decode
from zorgid.mobileapp.client import MAX_ANSWER_BYTES, AppClient
from zorgid.mobileapp.errors import (
    DeviceGoneError,
    DeviceRevokedError,
    PinWaitError,
    PinWrongError,
    ServiceRefusedError,
    ServiceResponseError,
    ServiceTimeoutError,
    ServiceUnreachableError,
)
from zorgid.mobileapp.models import iso
from zorgid.mobileapp.qr import parse_pointer
from zorgid.mobileapp.signing import new_device_key

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.support.server import Live
    from zorgid.mobileapp.models import Identity
    from zorgid.mobileapp.qr import QrPointer


def verifies(public: ec.EllipticCurvePublicKey, signature: str, signed: str) -> bool:
    public.verify(b64url_decode(signature), signed.encode(), ec.ECDSA(hashes.SHA256()))
    return True


# --- against the service ---------------------------------------------------------------------


class Phone:
    """An app API client for the live service, a device key, and the requests it sent."""

    def __init__(self, live: Live, *, lang: str = "nl", **kwargs: Any) -> None:
        self.live = live
        self.sent: list[httpx.Request] = []
        self.http = httpx.Client(event_hooks={"request": [self.sent.append]})
        self.client = AppClient(live.url, lang=lang, http=self.http, **kwargs)
        self.key = new_device_key()
        self.device_id = ""
        self.activation: QrPointer | None = None

    def body(self, index: int = -1) -> dict[str, Any]:
        body = json.loads(self.sent[index].content)
        assert isinstance(body, dict)
        return body

    def activate(self) -> Identity:
        issued = add_operator(self.live.container, name="Olga Operator", email="olga@zorgid.test")
        pointer = self.activation = parse_pointer(issued.qr_text)
        identity = self.client.activate(
            pointer.identifier, nonce=pointer.nonce, key=self.key, pin=PIN, label="test phone"
        )
        self.device_id = identity.device_id
        return identity

    def scan(self, portal: Portal) -> tuple[str, str]:
        """Scan the portal's QR; the login id and the code shown."""
        pointer = parse_pointer(portal.qr)
        request = self.client.scan_login(
            pointer.identifier, nonce=pointer.nonce, device_id=self.device_id, key=self.key
        )
        return pointer.identifier, request.code

    def confirmed(self, portal: Portal) -> tuple[str, str]:
        """Scan, have the browser type the code, wait: the login id and the challenge."""
        login_id, code = self.scan(portal)
        assert portal.type_code(code).status_code == 200
        progress = self.client.wait_login(
            login_id, nonce=parse_pointer(portal.qr).nonce, device_id=self.device_id
        )
        assert progress.state == "confirmed"
        assert progress.challenge is not None
        return login_id, progress.challenge


@pytest.fixture
def new_phone(live: Live) -> Iterator[Callable[..., Phone]]:
    made: list[Phone] = []

    def new(**kwargs: Any) -> Phone:
        made.append(Phone(live, **kwargs))
        return made[-1]

    yield new
    for phone in made:
        phone.http.close()


@pytest.fixture
def phone(new_phone: Callable[..., Phone]) -> Phone:
    return new_phone(lang="en")


def test_activation_posts_the_protocols_body_with_a_proof_of_the_key(
    phone: Phone, live: Live
) -> None:
    identity = phone.activate()
    assert phone.activation is not None
    activation_id, nonce = phone.activation.identifier, phone.activation.nonce
    request = phone.sent[0]
    assert request.method == "POST"
    assert str(request.url) == f"{live.url}/api/app/v1/activations/{activation_id}"
    assert request.headers["accept-language"] == "en"
    assert request.headers["content-type"] == "application/json"
    body = phone.body()
    assert set(body) == {"nonce", "public_key", "pin", "label", "signature"}
    assert (body["nonce"], body["pin"], body["label"]) == (nonce, PIN, "test phone")
    public = load_der_public_key(b64url_decode(body["public_key"]))
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert public.curve.name == "secp256r1"
    signed = f"zorgid-activate-v1\n{activation_id}\n{nonce}"
    assert verifies(public, body["signature"], signed)
    assert identity.person_name == "Olga Operator"
    assert identity.roles() == ("operator",)
    assert identity.status.value == "active"


def test_status_is_signed_over_device_and_timestamp(phone: Phone, live: Live) -> None:
    phone.activate()
    timestamp = iso(dt.datetime.now(dt.UTC))
    identity = phone.client.device_status(phone.device_id, key=phone.key, timestamp=timestamp)
    body = phone.body()
    assert body == {"timestamp": timestamp, "signature": body["signature"]}
    signed = f"zorgid-status-v1\n{phone.device_id}\n{timestamp}"
    assert verifies(phone.key.public_key(), body["signature"], signed)
    assert str(phone.sent[-1].url).endswith(f"/api/app/v1/devices/{phone.device_id}/status")
    assert (identity.status.value, identity.wipe) == ("active", False)
    revoke_device(live.container, phone.device_id)
    gone = phone.client.device_status(phone.device_id, key=phone.key, timestamp=timestamp)
    assert (gone.status.value, gone.wipe) == ("revoked", True)


def test_scan_wait_and_answer_send_what_the_protocol_says(phone: Phone, live: Live) -> None:
    phone.activate()
    portal = open_portal(live)
    pointer = parse_pointer(portal.qr)
    login_id, challenge = phone.confirmed(portal)
    outcome = phone.client.answer_login(
        login_id,
        device_id=phone.device_id,
        key=phone.key,
        challenge=challenge,
        decision="approve",
        pin=PIN,
    )
    scan, wait, answer = (phone.body(i) for i in (-3, -2, -1))
    assert set(scan) == {"nonce", "device_id", "signature"}
    public = phone.key.public_key()
    signed = f"zorgid-login-scan-v1\n{login_id}\n{pointer.nonce}\n{phone.device_id}"
    assert verifies(public, scan["signature"], signed)
    assert wait == {"nonce": pointer.nonce, "device_id": phone.device_id}
    assert set(answer) == {"device_id", "decision", "pin", "signature"}
    assert (answer["decision"], answer["pin"]) == ("approve", PIN)
    signed = f"zorgid-login-v1\n{login_id}\n{challenge}\napprove"
    assert verifies(public, answer["signature"], signed)
    assert (outcome.state, outcome.person_name) == ("approved", "Olga Operator")
    assert portal.state() == "approved"


@pytest.mark.parametrize("confirmed", [False, True], ids=["scanned", "confirmed"])
def test_a_decline_carries_no_pin_and_signs_the_empty_challenge(
    phone: Phone, live: Live, *, confirmed: bool
) -> None:
    phone.activate()
    portal = open_portal(live)
    login_id, challenge = phone.confirmed(portal) if confirmed else (phone.scan(portal)[0], "")
    outcome = phone.client.answer_login(
        login_id, device_id=phone.device_id, key=phone.key, challenge=challenge, decision="decline"
    )
    body = phone.body()
    assert set(body) == {"device_id", "decision", "signature"}
    signed = f"zorgid-login-v1\n{login_id}\n\ndecline"
    assert verifies(phone.key.public_key(), body["signature"], signed)
    assert outcome.state == "declined"
    assert portal.state() == "declined"


@pytest.mark.parametrize(
    ("lang", "text"),
    [("nl", "De pincode klopt niet."), ("en", "The PIN is not correct.")],
)
def test_a_wrong_pin_carries_the_services_code_text_and_attempts(
    new_phone: Callable[..., Phone], live: Live, lang: str, text: str
) -> None:
    phone = new_phone(lang=lang)
    phone.activate()
    login_id, challenge = phone.confirmed(open_portal(live))
    with pytest.raises(PinWrongError) as caught:
        phone.client.answer_login(
            login_id,
            device_id=phone.device_id,
            key=phone.key,
            challenge=challenge,
            decision="approve",
            pin=WRONG_PIN,
        )
    error = caught.value
    assert (error.code, error.remaining_attempts, error.exit_code) == ("pin_wrong", 5, 1)
    assert error.public_message(lang).startswith(text)
    assert "5" in error.public_message(lang)


def test_a_pin_tried_too_soon_carries_the_wait_and_the_attempts_left(
    phone: Phone, live: Live
) -> None:
    phone.activate()
    login_id, challenge = phone.confirmed(open_portal(live))

    def approve() -> None:
        phone.client.answer_login(
            login_id,
            device_id=phone.device_id,
            key=phone.key,
            challenge=challenge,
            decision="approve",
            pin=WRONG_PIN,
        )

    for _ in range(3):  # the free tries; a wrong PIN leaves the login confirmed
        with pytest.raises(PinWrongError):
            approve()
    with pytest.raises(PinWaitError) as caught:
        approve()
    assert (caught.value.retry_after, caught.value.remaining_attempts) == (60, 3)
    assert "60" in caught.value.public_message("en")


def test_a_revoked_device_is_a_device_gone_error(phone: Phone, live: Live) -> None:
    phone.activate()
    revoke_device(live.container, phone.device_id)
    with pytest.raises(DeviceRevokedError) as caught:
        phone.scan(open_portal(live))
    assert isinstance(caught.value, DeviceGoneError)
    assert caught.value.exit_code == 1


def test_a_long_poll_cut_short_is_reported_as_a_timeout(
    new_phone: Callable[..., Phone], live: Live
) -> None:
    phone = new_phone(wait_timeout=0.2)
    phone.activate()
    portal = open_portal(live)
    login_id, _ = phone.scan(portal)
    with pytest.raises(ServiceTimeoutError) as caught:
        phone.client.wait_login(
            login_id, nonce=parse_pointer(portal.qr).nonce, device_id=phone.device_id
        )
    assert caught.value.exit_code == 2
    # Ending the login also ends the service's side of the poll.
    phone.client.answer_login(
        login_id, device_id=phone.device_id, key=phone.key, challenge="", decision="decline"
    )


def test_a_refused_connection_names_the_service_url() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}"
    with AppClient(url, lang="en") as app, pytest.raises(ServiceUnreachableError) as caught:
        app.wait_login("L", nonce="N", device_id="D")
    assert caught.value.code == "service_unreachable"
    assert url in caught.value.public_message("en")


# --- answers our service does not give -------------------------------------------------------
# A misbehaving or other service cannot be made from our real one: httpx.MockTransport plays it.

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


def fixed(status: int, body: object = None, **kwargs: Any) -> httpx.MockTransport:
    """A service that gives one answer to everything."""
    if "content" not in kwargs:
        kwargs["json"] = body
    return httpx.MockTransport(lambda _: httpx.Response(status, **kwargs))


def client(transport: httpx.MockTransport, lang: str = "nl") -> AppClient:
    return AppClient(BASE, lang=lang, http=httpx.Client(transport=transport))


def test_attempts_and_waits_beside_the_error_object_are_read_too() -> None:
    # protocol.md allows them beside the error object; our service puts them inside.
    body = {
        "error": {"code": "pin_wait", "message": "Wacht even."},
        "retry_after": 120,
        "remaining_attempts": 1,
    }
    with pytest.raises(PinWaitError) as caught:
        client(fixed(429, body)).wait_login("L", nonce="N", device_id="D")
    assert (caught.value.retry_after, caught.value.remaining_attempts) == (120, 1)
    assert "120" in caught.value.public_message("en")


def test_a_retry_after_header_counts_when_the_body_has_none() -> None:
    # A wait only in the Retry-After header: our service always puts it in the body too.
    body = {"error": {"code": "activation_locked", "message": "Te vaak."}}
    with pytest.raises(ServiceRefusedError) as caught:
        client(fixed(429, body, headers={"Retry-After": "60"})).wait_login(
            "L", nonce="N", device_id="D"
        )
    assert (caught.value.code, caught.value.retry_after) == ("activation_locked", 60)


def test_a_code_newer_than_the_app_still_carries_the_services_code() -> None:
    body = {"error": {"code": "something_new", "message": "Iets nieuws."}}
    with pytest.raises(ServiceRefusedError) as caught:
        client(fixed(400, body)).wait_login("L", nonce="N", device_id="D")
    assert caught.value.code == "something_new"
    assert caught.value.public_message("nl") == "Iets nieuws."


def test_control_characters_in_the_services_text_do_not_reach_the_terminal() -> None:
    body = {"error": {"code": "bad_request", "message": "\x1b]0;pwned\x07Fout\r\nregel\u202e"}}
    with pytest.raises(ServiceRefusedError) as caught:
        client(fixed(400, body)).wait_login("L", nonce="N", device_id="D")
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
    with pytest.raises(ServiceResponseError) as caught:
        client(fixed(status, **kwargs)).wait_login("L", nonce="N", device_id="D")
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
            client(fixed(200, broken)).device_status("dev-1", key=new_device_key(), timestamp="t")
