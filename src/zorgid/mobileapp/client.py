"""The app side of the app API (docs/protocol.md), over httpx, one method per request.

``AppClient("https://zorgid.example")`` talks to ``https://zorgid.example/api/app/v1/``. Pass
``http=`` to use another :class:`httpx.Client` (a Starlette ``TestClient`` runs the service
in-process). Every answer is checked against the protocol; what does not fit becomes a
:class:`ServiceResponseError`, a protocol error a :class:`ServiceRefusedError` carrying the
service's code, and no connection a :class:`ServiceUnreachableError`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Self, TypeVar

import httpx

from zorgid import __version__
from zorgid.core.i18n import N_, Message
from zorgid.core.protocol import (
    Decision,
    activation_string,
    answer_string,
    scan_string,
    status_string,
)
from zorgid.mobileapp.errors import (
    SERVICE_CODE,
    ServiceError,
    ServiceRefusedError,
    ServiceResponseError,
    ServiceTimeoutError,
    ServiceUnreachableError,
)
from zorgid.mobileapp.models import (
    Identity,
    LoginOutcome,
    LoginProgress,
    LoginRequest,
    MalformedError,
    clean_text,
    identity_from_json,
    login_outcome_from_json,
    login_progress_from_json,
    login_request_from_json,
)
from zorgid.mobileapp.signing import public_key_b64, sign

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from cryptography.hazmat.primitives.asymmetric import ec

T = TypeVar("T")

API_PATH = "/api/app/v1"
#: Seconds for an ordinary request.
TIMEOUT = 15.0
#: The wait request is a long poll of at most 25 s (protocol.md); give it room.
WAIT_TIMEOUT = 40.0
#: No answer of the protocol comes near this; a larger one is not read.
MAX_ANSWER_BYTES = 256 * 1024
_HTTP_OK_FIRST = 200
_HTTP_OK_END = 300
_HTTP_ERROR_FIRST = 400
_HTTP_SERVER_ERROR_FIRST = 500


class AppClient:
    """The app API of one service."""

    def __init__(
        self,
        base_url: str,
        *,
        lang: str = "nl",
        http: httpx.Client | None = None,
        timeout: float = TIMEOUT,
        wait_timeout: float = WAIT_TIMEOUT,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.lang = lang
        self._owns_http = http is None
        self._http = http or httpx.Client(follow_redirects=False)
        self._timeout = httpx.Timeout(timeout)
        self._wait_timeout = httpx.Timeout(timeout, read=wait_timeout)

    def close(self) -> None:
        """Close the HTTP client, if this object made it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- protocol.md "Activation" ----------------------------------------------------------

    def activate(
        self,
        activation_id: str,
        *,
        nonce: str,
        key: ec.EllipticCurvePrivateKey,
        pin: str,
        label: str,
    ) -> Identity:
        """``POST /activations/{id}``: register ``key`` with ``pin``; the service's ID answer."""
        body = {
            "nonce": nonce,
            "public_key": public_key_b64(key),
            "pin": pin,
            "label": label,
            "signature": sign(key, activation_string(activation_id, nonce)),
        }
        return self._read(identity_from_json, self._post(f"/activations/{activation_id}", body))

    # --- protocol.md "Device status" -------------------------------------------------------

    def device_status(
        self, device_id: str, *, key: ec.EllipticCurvePrivateKey, timestamp: str
    ) -> Identity:
        """``POST /devices/{id}/status`` signed at ``timestamp`` (ISO 8601 UTC with Z)."""
        body = {"timestamp": timestamp, "signature": sign(key, status_string(device_id, timestamp))}
        return self._read(identity_from_json, self._post(f"/devices/{device_id}/status", body))

    # --- protocol.md "QR login" ------------------------------------------------------------

    def scan_login(
        self, login_id: str, *, nonce: str, device_id: str, key: ec.EllipticCurvePrivateKey
    ) -> LoginRequest:
        """``POST /logins/{id}/scan``: claim the login; who asks and the code to show."""
        body = {
            "nonce": nonce,
            "device_id": device_id,
            "signature": sign(key, scan_string(login_id, nonce, device_id)),
        }
        return self._read(login_request_from_json, self._post(f"/logins/{login_id}/scan", body))

    def wait_login(self, login_id: str, *, nonce: str, device_id: str) -> LoginProgress:
        """``POST /logins/{id}/wait``: one long poll (the caller repeats it while ``scanned``)."""
        body = {"nonce": nonce, "device_id": device_id}
        answer = self._post(f"/logins/{login_id}/wait", body, timeout=self._wait_timeout)
        return self._read(login_progress_from_json, answer)

    def answer_login(  # noqa: PLR0913 - the fields of the protocol's answer request
        self,
        login_id: str,
        *,
        device_id: str,
        key: ec.EllipticCurvePrivateKey,
        challenge: str,
        decision: Decision,
        pin: str | None = None,
    ) -> LoginOutcome:
        """``POST /logins/{id}/answer``: approve (with ``pin``) or decline, signed."""
        body: dict[str, Any] = {"device_id": device_id, "decision": decision}
        if decision == "approve":
            if pin is None:
                raise ValueError("an approval needs the PIN")
            body["pin"] = pin
        body["signature"] = sign(key, answer_string(login_id, challenge, decision))
        return self._read(login_outcome_from_json, self._post(f"/logins/{login_id}/answer", body))

    # --- HTTP ------------------------------------------------------------------------------

    def _post(
        self, path: str, body: dict[str, Any], *, timeout: httpx.Timeout | None = None
    ) -> object:
        url = f"{self.base_url}{API_PATH}{path}"
        headers = {
            "Accept": "application/json",
            "Accept-Language": self.lang,
            "User-Agent": f"zorgid-app/{__version__}",
        }
        try:
            with self._http.stream(
                "POST", url, json=body, headers=headers, timeout=timeout or self._timeout
            ) as response:
                status = response.status_code
                data = _read_capped(response)
                content_type = response.headers.get("content-type", "")
                answer_headers = response.headers
        except httpx.TimeoutException as exc:
            raise self._unreachable(
                ServiceTimeoutError, exc, N_("it did not answer in time")
            ) from None
        except httpx.ConnectError as exc:
            raise self._unreachable(ServiceUnreachableError, exc, N_("no connection")) from None
        except httpx.DecodingError as exc:
            raise self._unexpected(str(exc), N_("an answer that cannot be decoded")) from None
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            raise self._unreachable(
                ServiceUnreachableError, exc, N_("the connection failed")
            ) from None
        except _TooLargeError:
            raise self._unexpected("answer too large", N_("an answer that is too large")) from None
        if _HTTP_ERROR_FIRST <= status < _HTTP_SERVER_ERROR_FIRST:
            raise self._refusal(
                status, _json(data) if _is_json(content_type) else None, answer_headers
            )
        # Redirects are not followed: the app talks only to the URL its QR code named.
        if not _HTTP_OK_FIRST <= status < _HTTP_OK_END:
            raise self._unexpected(
                f"HTTP {status}", Message(N_("HTTP status {status}"), {"status": status})
            )
        parsed = _json(data) if _is_json(content_type) else None
        if parsed is None:
            raise self._unexpected(f"HTTP {status}, not JSON", N_("not JSON"))
        return parsed

    def _read(self, reader: Callable[[object], T], answer: object) -> T:
        try:
            return reader(answer)
        except MalformedError as exc:
            raise self._unexpected(str(exc), N_("not what the protocol says")) from None

    def _refusal(self, status: int, parsed: object, headers: httpx.Headers) -> ServiceError:
        error = parsed.get("error") if isinstance(parsed, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        if (
            not isinstance(error, dict)
            or not isinstance(code, str)
            or not SERVICE_CODE.fullmatch(code)
        ):
            return self._unexpected(
                f"HTTP {status} without a protocol error",
                Message(N_("HTTP status {status}"), {"status": status}),
            )
        message = error.get("message")
        top = parsed if isinstance(parsed, dict) else {}
        return ServiceRefusedError.for_code(code)(
            f"HTTP {status} {code}",
            server_message=clean_text(message, limit=500) if isinstance(message, str) else "",
            remaining_attempts=_count(error, top, "remaining_attempts"),
            retry_after=_count(error, top, "retry_after", header=headers.get("retry-after")),
        )

    def _unreachable(
        self, kind: type[ServiceUnreachableError], exc: Exception, reason: str
    ) -> ServiceUnreachableError:
        return kind(f"{type(exc).__name__}: {exc}", url=self.base_url, reason=reason)

    def _unexpected(self, detail: str, reason: str | Message) -> ServiceResponseError:
        return ServiceResponseError(detail, url=self.base_url, reason=reason)


class _TooLargeError(Exception):
    pass


def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise _TooLargeError
        chunks.append(chunk)
    return b"".join(chunks)


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _json(data: bytes) -> object:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def _count(
    error: dict[str, Any], top: dict[str, Any], key: str, *, header: str | None = None
) -> int | None:
    # protocol.md puts remaining_attempts / retry_after "plus" the error: inside the error
    # object or beside it; both are read, the error object first, then a Retry-After header.
    for value in (error.get(key), top.get(key), header):
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 10:  # noqa: PLR2004
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**9:
            return value
    return None
