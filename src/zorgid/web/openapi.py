"""The OpenAPI document at ``/api/openapi.json``: every route, its body and its real answers.

FastAPI describes only its own routes, their JSON bodies and a 422 the service never gives (its
validation errors are 400 ``bad_request``, web/errors.py); it knows neither the login's plain
routes (web/fastpath.py) nor the forms the routes read themselves (web/forms.py). The table
:data:`OPERATIONS` says, for every method and path, what the route takes and what it answers;
:func:`document` builds the document from FastAPI's (for path and query parameters and the
JSON models) and the table. A route without a line in the table, or a line without a route,
fails tests/functional/test_http_surface.py; schemathesis fuzzes the document against a running
service (tests/functional/test_schemathesis.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi.openapi.utils import get_openapi
from fastapi.routing import iter_route_contexts

from zorgid.web.routes.app_api import (
    ActivationRequest,
    AnswerRequest,
    ScanRequest,
    StatusRequest,
    WaitRequest,
)

if TYPE_CHECKING:
    from fastapi import FastAPI
    from pydantic import BaseModel

HTML = "text/html"
JSON = "application/json"
EVENTS = "text/event-stream"
TEXT = "text/plain"
REDIRECT = ""  # 303 See Other, no body
REF = "#/components/schemas/{model}"
ID_PATTERN = "^[A-Za-z0-9_-]{22}$"
#: Path parameters of the plain routes (FastAPI's routes describe their own).
FAST_PARAMETERS = {"login_id": {"type": "string", "pattern": ID_PATTERN}}
REASONS = {
    200: "OK",
    201: "Created",
    303: "See Other: the next page (Location)",
    400: "Bad request: a malformed parameter, field or body (code bad_request), or a refused form",
    401: "Not logged in, wrong PIN or signature",
    403: "Forbidden: wrong role, CSRF token, blocked or revoked device",
    404: "Unknown (or not this browser's) login, device, code, request or page",
    409: "Conflict with the current state",
    410: "Expired",
    413: "Body too large",
    422: "The uploaded document was refused (the page says why)",
    429: "Too many requests, or a wait after wrong PINs (Retry-After)",
    503: "Not ready: database unreachable or not migrated, or no trust anchors configured",
}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "stable error code"},
                "message": {"type": "string", "description": "for people, Dutch or English"},
                "remaining_attempts": {"type": "integer"},
                "retry_after": {"type": "integer", "description": "seconds"},
            },
        }
    },
}
STATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["state"],
    "properties": {"state": {"type": "string"}},
}


@dataclass(frozen=True)
class Operation:
    """What one route takes and answers."""

    #: Success answers: status -> media type (REDIRECT for a 303 without body).
    ok: tuple[tuple[int, str], ...] = ((200, HTML),)
    #: Error statuses the route gives (bodies: the error object, or a page for browsers).
    errors: tuple[int, ...] = ()
    #: Text fields of a posted form (application/x-www-form-urlencoded or multipart).
    form: tuple[str, ...] = ()
    #: Fields of the form that may repeat (checkboxes).
    repeated: tuple[str, ...] = ()
    #: File fields: the form is multipart/form-data only.
    files: tuple[str, ...] = ()
    #: A JSON body.
    body: type[BaseModel] | None = None
    #: The schema of a JSON success body, when FastAPI does not know it.
    answer: dict[str, Any] | None = None


PAGE = Operation()
BAD = (400,)
TOKEN_PAGE = Operation(errors=(400, 404, 429))
TOKEN_FORM = Operation(ok=((303, REDIRECT),), errors=(400, 403, 404, 409, 413, 429), form=("csrf",))
OPERATOR_PAGE = Operation(errors=(400, 401, 403, 404))
OPERATOR_FORM = Operation(
    ok=((303, REDIRECT),), errors=(400, 401, 403, 404, 409, 413, 429), form=("csrf",)
)
LOGIN_STEP = (400, 403, 404, 409, 410, 413, 429)
APP_STEP = (400, 401, 403, 404, 409, 410, 413, 429)
APPLICATION_FIELDS = ("csrf", "name", "vendor", "supports", "website")
LOGIN_STATUS = Operation(ok=((200, JSON),), errors=(400, 404, 410), answer=STATE_SCHEMA)
LOGIN_EVENTS = Operation(ok=((200, EVENTS),), errors=(400, 404, 410))

#: Every route: (method, path) -> what it takes and answers.
OPERATIONS: dict[tuple[str, str], Operation] = {
    # The portal's login (web/routes/portal.py; the plain routes of web/fastpath.py).
    ("GET", "/"): Operation(errors=(429,)),
    ("HEAD", "/"): Operation(errors=(429,)),
    ("GET", "/login/{login_id}/status"): LOGIN_STATUS,
    ("HEAD", "/login/{login_id}/status"): LOGIN_STATUS,
    ("GET", "/login/{login_id}/events"): LOGIN_EVENTS,
    ("HEAD", "/login/{login_id}/events"): LOGIN_EVENTS,
    ("GET", "/login/{login_id}"): Operation(ok=((200, HTML), (303, REDIRECT)), errors=BAD),
    ("POST", "/login/{login_id}/code"): Operation(
        ok=((303, REDIRECT), (200, JSON)), errors=LOGIN_STEP, form=("code", "csrf")
    ),
    ("POST", "/login/{login_id}/complete"): Operation(
        ok=((303, REDIRECT), (200, JSON)), errors=LOGIN_STEP, form=("csrf",)
    ),
    ("POST", "/logout"): Operation(
        ok=((303, REDIRECT),), errors=(400, 403, 413, 429), form=("csrf",)
    ),
    ("POST", "/opnieuw-inloggen"): Operation(
        errors=(400, 401, 403, 413, 429), form=("csrf", "terug")
    ),
    ("GET", "/app/login/{login_id}"): Operation(errors=BAD),
    ("GET", "/app/activeer/{login_id}"): Operation(errors=BAD),
    # The app API (web/routes/app_api.py).
    ("POST", "/api/app/v1/activations/{activation_id}"): Operation(
        ok=((201, JSON),), errors=APP_STEP, body=ActivationRequest
    ),
    ("POST", "/api/app/v1/devices/{device_id}/status"): Operation(
        ok=((200, JSON),), errors=APP_STEP, body=StatusRequest
    ),
    ("POST", "/api/app/v1/logins/{login_id}/scan"): Operation(
        ok=((200, JSON),), errors=APP_STEP, body=ScanRequest
    ),
    ("POST", "/api/app/v1/logins/{login_id}/wait"): Operation(
        ok=((200, JSON),), errors=APP_STEP, body=WaitRequest
    ),
    ("POST", "/api/app/v1/logins/{login_id}/answer"): Operation(
        ok=((200, JSON),), errors=APP_STEP, body=AnswerRequest
    ),
    # For the people who run the service (web/routes/ops.py).
    ("GET", "/healthz"): Operation(ok=((200, JSON),)),
    ("GET", "/readyz"): Operation(ok=((200, JSON),), errors=(503,)),
    ("GET", "/metrics"): Operation(ok=((200, TEXT),), errors=(404,)),
    # The list of accepted applications (web/routes/applications.py).
    ("GET", "/toepassingen"): PAGE,
    ("GET", "/api/toepassingen"): Operation(ok=((200, JSON),)),
    # Registration (web/routes/registration.py).
    ("GET", "/aanvraag"): PAGE,
    ("GET", "/aanvraag-controle"): Operation(ok=((200, JSON),)),
    ("POST", "/aanvraag"): Operation(
        errors=(400, 403, 413, 429),
        form=(
            "csrf",
            "altcha",
            "ura",
            "organisation_name",
            "technical_name",
            "technical_email",
            "admin_name",
            "admin_email",
            "applications",
        ),
        repeated=("applications",),
    ),
    ("GET", "/aanvraag/{token}"): TOKEN_PAGE,
    ("POST", "/aanvraag/{token}/document"): Operation(
        ok=((303, REDIRECT),),
        errors=(400, 403, 404, 409, 413, 422, 429, 503),
        form=("csrf",),
        files=("document",),
    ),
    ("GET", "/aanvraag/{token}/intrekken"): TOKEN_PAGE,
    ("POST", "/aanvraag/{token}/intrekken"): TOKEN_FORM,
    ("GET", "/gegevens/{token}"): TOKEN_PAGE,
    ("POST", "/gegevens/{token}"): Operation(
        ok=((303, REDIRECT),),
        errors=(400, 403, 404, 409, 413, 429),
        form=("csrf", "full_name", "birth_date", "phone"),
    ),
    ("POST", "/gegevens/{token}/bevestigen"): TOKEN_FORM,
    # The back office (web/routes/backoffice.py).
    ("GET", "/beheer"): OPERATOR_PAGE,
    ("GET", "/beheer/aanvragen/{request_id}"): OPERATOR_PAGE,
    ("POST", "/beheer/aanvragen/{request_id}/goedkeuren"): OPERATOR_FORM,
    ("POST", "/beheer/aanvragen/{request_id}/afwijzen"): Operation(
        ok=OPERATOR_FORM.ok, errors=OPERATOR_FORM.errors, form=("csrf", "reason")
    ),
    ("POST", "/beheer/aanvragen/{request_id}/opnieuw-versturen"): OPERATOR_FORM,
    ("GET", "/beheer/toepassingen"): OPERATOR_PAGE,
    ("POST", "/beheer/toepassingen"): Operation(
        ok=((303, REDIRECT),),
        errors=OPERATOR_FORM.errors,
        form=("id", *APPLICATION_FIELDS),
    ),
    ("GET", "/beheer/toepassingen/{application_id}"): OPERATOR_PAGE,
    ("POST", "/beheer/toepassingen/{application_id}"): Operation(
        ok=((303, REDIRECT),), errors=OPERATOR_FORM.errors, form=APPLICATION_FIELDS
    ),
    ("POST", "/beheer/toepassingen/{application_id}/intrekken"): OPERATOR_FORM,
    ("GET", "/beheer/audit"): OPERATOR_PAGE,
}


def routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app routes (FastAPI's and the plain ones; not static files)."""
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.router.routes):
        if route.methods and route.path and route.include_in_schema:
            found |= {(method, route.path) for method in route.methods}
    return found


def document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document of ``app``: FastAPI's, completed and corrected by the table."""
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=(
            "ZORG-ID: the portal's pages and forms, the app API (docs/protocol.md) and the "
            "operations routes. Errors are the error object for the app API and clients that "
            "accept application/json, a page otherwise."
        ),
        routes=app.routes,
    )
    paths: dict[str, dict[str, Any]] = doc.setdefault("paths", {})
    schemas: dict[str, Any] = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["Error"] = ERROR_SCHEMA
    for method, path in sorted(routes(app)):
        operation = OPERATIONS.get((method, path))
        if operation is None:
            continue  # the test of the document names it
        described = paths.setdefault(path, {}).setdefault(method.lower(), _plain(method, path))
        _describe(described, path, operation, schemas)
    for path in [p for p, ops in paths.items() if not ops]:
        del paths[path]
    return doc


def _plain(method: str, path: str) -> dict[str, Any]:
    """An operation for a plain route, which FastAPI does not describe."""
    names = re.findall(r"\{([^}]+)\}", path)
    return {
        "operationId": f"{method.lower()}_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_')}",
        "parameters": [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": FAST_PARAMETERS.get(name, {"type": "string"}),
            }
            for name in names
        ],
    }


def _describe(
    described: dict[str, Any], path: str, operation: Operation, schemas: dict[str, Any]
) -> None:
    if operation.body is not None:
        name = operation.body.__name__
        schemas[name] = operation.body.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        described["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": {"$ref": f"#/components/schemas/{name}"}}},
        }
    elif operation.form or operation.files:
        described["requestBody"] = {"required": True, "content": _form_content(operation)}
    success = (described.get("responses") or {}).get("200", {}).get("content", {}).get(JSON, {})
    described["responses"] = _responses(path, operation, success.get("schema"))


def _form_content(operation: Operation) -> dict[str, Any]:
    properties: dict[str, Any] = {
        name: {"type": "array", "items": {"type": "string"}}
        if name in operation.repeated
        else {"type": "string"}
        for name in operation.form
    }
    properties |= {name: {"type": "string", "format": "binary"} for name in operation.files}
    schema = {"type": "object", "properties": properties}
    if operation.files:
        return {"multipart/form-data": {"schema": schema}}
    return {"application/x-www-form-urlencoded": {"schema": schema}}


def _responses(
    path: str, operation: Operation, known: dict[str, Any] | None
) -> dict[str, dict[str, Any]]:
    json_only = path.startswith("/api/") or path.endswith(("/status", "/events"))
    responses: dict[str, dict[str, Any]] = {}
    for status, media in operation.ok:
        answer: dict[str, Any] = {"description": REASONS[status]}
        if media == REDIRECT:
            answer["headers"] = {"Location": {"schema": {"type": "string"}}}
        elif media == JSON:
            schema = operation.answer or known or {"type": "object"}
            answer["content"] = {JSON: {"schema": schema}}
        else:
            answer["content"] = {media: {"schema": {"type": "string"}}}
        responses[str(status)] = answer
    error = {"schema": {"$ref": "#/components/schemas/Error"}}
    for status in operation.errors:
        content: dict[str, Any] = {JSON: error}
        if not json_only and status != 429:  # noqa: PLR2004 - the rate limit answers JSON only
            content[HTML] = {"schema": {"type": "string"}}
        responses.setdefault(str(status), {"description": REASONS[status], "content": content})
    return responses
