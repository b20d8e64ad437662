"""The app API (docs/protocol.md): activation, device status and the app's side of QR login."""

from __future__ import annotations

import datetime as dt  # noqa: TC003 - pydantic and FastAPI read annotations at runtime
import time
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse

from zorgid.web.auth import container_of
from zorgid.web.client import client_ip
from zorgid.web.fastpath import json_body, route
from zorgid.web.fastpath import login_id as fast_login_id
from zorgid.web.language import request_language
from zorgid.web.streams import ClientWatch

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from zorgid.bootstrap import Container
    from zorgid.login.service import AppView

PREFIX = "/api/app/v1"
router = APIRouter(prefix=PREFIX)

Id = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{22}$")]
Token = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
B64 = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,400}$")]
WAIT_SECONDS = 25.0


class Strict(BaseModel):
    """Request bodies refuse unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ActivationRequest(Strict):
    """``POST /activations/{id}``."""

    nonce: Token
    public_key: B64
    pin: Annotated[str, Field(max_length=16)]
    label: Annotated[str, Field(max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")] = "app"
    signature: B64


class StatusRequest(Strict):
    """``POST /devices/{id}/status``."""

    timestamp: Annotated[str, Field(max_length=40)]
    signature: B64


class ScanRequest(Strict):
    """``POST /logins/{id}/scan``."""

    nonce: Token
    device_id: Token
    signature: B64


class WaitRequest(Strict):
    """``POST /logins/{id}/wait``."""

    nonce: Token
    device_id: Token


class AnswerRequest(Strict):
    """``POST /logins/{id}/answer``."""

    device_id: Token
    decision: Literal["approve", "decline"]
    pin: Annotated[str, Field(max_length=16)] | None = None
    signature: B64


def _zulu(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@router.post("/activations/{activation_id}", status_code=201)
def activate(activation_id: Id, body: ActivationRequest, request: Request) -> dict[str, object]:
    """Redeem a one-time activation code and register the app's device key and PIN."""
    container = container_of(request)
    with container.unit_of_work() as session:
        identity = container.identity(session)
        device = identity.redeem_activation(
            activation_id,
            nonce=body.nonce,
            public_key=body.public_key,
            pin=body.pin,
            label=body.label,
            signature=body.signature,
            source=client_ip(request),
        )
        return {
            "device_id": device.id,
            "status": device.status.value,
            "service": _service(container),
            **identity.profile(device.person_id).as_json(),
        }


@router.post("/devices/{device_id}/status")
def device_status(device_id: Id, body: StatusRequest, request: Request) -> dict[str, object]:
    """What the app shows under "ID"; a switched-off device is told to wipe itself."""
    container = container_of(request)
    with container.unit_of_work() as session:
        identity = container.identity(session)
        device = identity.device_status(
            device_id, timestamp=body.timestamp, signature=body.signature
        )
        answer: dict[str, object] = {
            "device_id": device.id,
            "status": device.status.value,
            "service": _service(container),
            **identity.profile(device.person_id).as_json(),
        }
        if device.status.value != "active":
            answer["wipe"] = True
        return answer


@route(f"{PREFIX}/logins/{{login_id}}/scan", methods=["POST"])
async def scan(request: Request) -> JSONResponse:
    """The app scanned a login QR: who asks, and the code to type in the browser."""
    container, login_id = container_of(request), fast_login_id(request)
    body = await json_body(request, ScanRequest)
    result = await container.logins.scan(
        login_id, nonce=body.nonce, device_id=body.device_id, signature=body.signature
    )
    return JSONResponse(
        {
            "service": {"name": result.service_name, "host": result.host},
            "requested_at": _zulu(result.requested_at),
            "expires_at": _zulu(result.expires_at),
            "browser": {
                "ip": result.client_ip,
                "user_agent": result.browser.render(request_language(request)),
            },
            "code": result.code,
        }
    )


@route(f"{PREFIX}/logins/{{login_id}}/wait", methods=["POST"])
async def wait(request: Request) -> JSONResponse:
    """Long poll until the browser typed the code (or the login ended)."""
    container, login_id = container_of(request), fast_login_id(request)
    body = await json_body(request, WaitRequest)

    def read() -> Awaitable[AppView]:
        return container.logins.app_state(login_id, nonce=body.nonce, device_id=body.device_id)

    deadline = time.monotonic() + WAIT_SECONDS
    with container.events.subscribe(login_id) as subscription:
        view = await read()
        if view.state == "scanned":
            # An app that went away (closed, killed) wakes the wait and ends its poll at once.
            with ClientWatch(request.receive, subscription.wake) as app:
                while view.state == "scanned":
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    woken = await subscription.wait(min(remaining, 5.0))
                    if app.gone:
                        break
                    if woken and subscription.state:
                        view = view.now(subscription.state)  # what the change committed
                    else:
                        view = await read()  # a timeout (or a lost notification): ask the database
    answer: dict[str, object] = {"state": view.state}
    if view.challenge is not None:
        answer["challenge"] = view.challenge
    return JSONResponse(answer)


@route(f"{PREFIX}/logins/{{login_id}}/answer", methods=["POST"])
async def answer(request: Request) -> JSONResponse:
    """The app approves with the PIN and its device signature, or declines."""
    container, login_id = container_of(request), fast_login_id(request)
    body = await json_body(request, AnswerRequest)
    profile = await container.logins.answer(
        login_id,
        device_id=body.device_id,
        decision=body.decision,
        pin=body.pin,
        signature=body.signature,
        source=client_ip(request),
    )
    if profile is None:
        return JSONResponse({"state": "declined"})
    return JSONResponse({"state": "approved", **profile.as_json()})


def _service(container: Container) -> dict[str, str]:
    return {"name": container.settings.service_name, "url": container.settings.public_url}
