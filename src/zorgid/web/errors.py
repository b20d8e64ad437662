"""Turning errors into responses: a status, a stable code, a message in the person's language.

Services raise :class:`~zorgid.errors.ZorgidError`; only this module knows HTTP. The app API
(``/api/...``) answers JSON (docs/protocol.md, "Conventions"); pages answer a readable page.
Nothing reaches the person as a traceback or a bare 500.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match

from zorgid.core.i18n import N_, translate
from zorgid.errors import ZorgidError
from zorgid.web.language import request_language

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from fastapi import FastAPI
    from starlette.requests import Request

log = logging.getLogger("zorgid.web")
KIB = 1024
#: Where zorgid.web.bodylimit leaves the request's body limit (in bytes) in the ASGI scope.
BODY_LIMIT = "zorgid.body_limit"

STATUS = {
    "bad_request": 400,
    "signature_invalid": 400,
    "pin_format": 400,
    "login_code_wrong": 400,
    "pin_wrong": 401,
    "session_invalid": 401,
    "login_required": 401,
    "fresh_login_required": 401,
    "forbidden": 403,
    "device_blocked": 403,
    "device_revoked": 403,
    "csrf_invalid": 403,
    "activation_unknown": 404,
    "device_unknown": 404,
    "login_unknown": 404,
    "not_found": 404,
    "application_unknown": 404,
    "registration_unknown": 404,
    "method_not_allowed": 405,
    "activation_used": 409,
    "login_taken": 409,
    "login_state": 409,
    "login_failed": 409,
    "application_exists": 409,
    "application_withdrawn": 409,
    "registration_state": 409,
    "organisation_exists": 409,
    "administrator_is_operator": 409,
    "activation_expired": 410,
    "login_expired": 410,
    "too_large": 413,
    "activation_locked": 429,
    "pin_wait": 429,
    "rate_limited": 429,
    "mail_limit": 429,
    "proof_of_work_invalid": 400,
    "proof_of_work_missing": 400,
    "trust_not_configured": 503,
}


class CsrfError(ZorgidError):
    """A form arrived without the token of the page it came from."""

    code = "csrf_invalid"
    message = N_(
        "This form has expired or did not come from this site. Reload the page and try again."
    )


class FreshLoginRequiredError(ZorgidError):
    """A decision needs a recent login (QR and PIN), and this session's login is older.

    ``back`` is the page the decision was made on, ``kept`` what the person had typed in its
    form, ``csrf`` the token of the session's forms: the page that says so offers a new login
    that returns there with it (:func:`error_response` renders it).
    """

    code = "fresh_login_required"
    message = N_(
        "For this decision you need to have logged in with the ZORG-ID app in the last "
        "{minutes} minutes. Log in again with the app; you then return to this page, with "
        "what you typed."
    )

    def __init__(
        self, detail: str = "", *, back: str, kept: dict[str, str], csrf: str, minutes: int
    ) -> None:
        super().__init__(detail, minutes=minutes)
        self.back = back
        self.kept = kept
        self.csrf = csrf


class NotFoundError(ZorgidError):
    """No such page."""

    code = "not_found"
    message = N_("This page does not exist.")


class MethodError(ZorgidError):
    """The address exists, but not for this kind of request."""

    code = "method_not_allowed"
    message = N_("This address does not accept this kind of request.")


class InvalidRequestError(ZorgidError):
    """The request's body or parameters do not have the expected shape."""

    code = "bad_request"
    message = N_("The request is not valid: {reason}")


class TooLargeError(ZorgidError):
    """The request's body is larger than its route accepts (refused before it is read)."""

    code = "too_large"
    message = N_("What you sent is larger than this address accepts (at most {limit} KiB).")


def too_large(request: Request) -> TooLargeError:
    """The 413 for ``request``, naming its route's limit (zorgid.web.bodylimit)."""
    limit = int(request.scope.get(BODY_LIMIT) or 0)
    return TooLargeError(f"body over {limit} bytes", limit=-(-limit // KIB))


class InternalServerError(ZorgidError):
    """A defect: logged in full, shown as an apology with a reference."""

    code = "internal_error"
    message = N_("Something went wrong on our side. Please try again in a moment.")


def invalid_request(problems: Sequence[Mapping[str, Any]], *, skip: int = 0) -> InvalidRequestError:
    """The 400 for pydantic's ``problems``, naming each field.

    ``skip`` leaves out leading parts of a field's path (FastAPI's ``body``).
    """
    fields = sorted(
        {".".join(str(part) for part in p.get("loc", ())[skip:]) or "body" for p in problems}
    )
    return InvalidRequestError(str(problems)[:500], reason=", ".join(fields)[:200])


def wants_json(request: Request) -> bool:
    """The app API and clients that ask for JSON get JSON."""
    path = request.url.path
    return (
        path.startswith("/api/")
        or path.endswith(("/status", "/events"))
        or "application/json" in request.headers.get("accept", "")
    )


def error_body(error: ZorgidError, lang: str) -> dict[str, Any]:
    """The protocol's error object."""
    body: dict[str, Any] = {"code": error.code, "message": error.public_message(lang)}
    for key in ("remaining_attempts", "retry_after"):
        if key in error.params:
            body[key] = error.params[key]
    return {"error": body}


def allowed_methods(request: Request) -> str:
    """The ``Allow`` header for the request's path: the methods of every route that matches it.

    Starlette's 405 names only the first route matching the path; ours may be several (a page's
    GET and its form's POST are separate routes).
    """
    scope = {
        "type": "http",
        "method": "GET",
        "path": request.scope["path"],
        # Inside a mount root_path has grown by the mount's path; the app's own is kept here.
        "root_path": request.scope.get("app_root_path", request.scope.get("root_path", "")),
    }
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.router.routes):
        match, _ = route.matches(scope)
        if match is Match.NONE:
            continue
        methods |= route.methods or {"GET", "HEAD"}  # no methods: a mount (static files)
    return ", ".join(sorted(methods))


def error_response(
    request: Request,
    error: ZorgidError,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The response for ``error``: JSON for the API, a page otherwise."""
    status = status or STATUS.get(error.code, 400)
    lang = request_language(request)
    headers = dict(headers or {})
    if "retry_after" in error.params:
        headers["Retry-After"] = str(error.params["retry_after"])
    if wants_json(request):
        return JSONResponse(error_body(error, lang), status_code=status, headers=headers)
    from zorgid.web.pages import render  # noqa: PLC0415 - pages import this module

    if isinstance(error, FreshLoginRequiredError):
        return render(
            request,
            "fresh_login.html",
            {
                "message": error.public_message(lang),
                "back": error.back,
                "kept": error.kept,
                "csrf": error.csrf,
            },
            status=status,
        )
    return render(
        request,
        "error.html",
        {
            "title": translate(N_("Something is not right"), lang),
            "message": error.public_message(lang),
            "code": error.code,
        },
        status=status,
        headers=headers,
    )


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    async def on_zorgid_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ZorgidError)  # noqa: S101 - registered for this class only
        return error_response(request, exc)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)  # noqa: S101
        return error_response(request, invalid_request(exc.errors(), skip=1))

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101
        if exc.status_code == 405:  # noqa: PLR2004 - the HTTP status
            return error_response(request, MethodError(), 405, {"Allow": allowed_methods(request)})
        if exc.status_code == 404:  # noqa: PLR2004
            return error_response(request, NotFoundError(), 404)
        if exc.status_code == 413:  # noqa: PLR2004 - zorgid.web.bodylimit
            return error_response(request, too_large(request), 413)
        return error_response(
            request,
            InvalidRequestError(str(exc.detail), reason=str(exc.status_code)),
            exc.status_code,
        )

    async def on_defect(request: Request, exc: Exception) -> Response:
        log.error("unhandled error", exc_info=exc)
        return error_response(request, InternalServerError(), 500)

    app.add_exception_handler(ZorgidError, on_zorgid_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_defect)
