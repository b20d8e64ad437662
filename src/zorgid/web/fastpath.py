"""The login's eight requests as plain Starlette routes, ahead of FastAPI's.

Every login of the country makes them, and FastAPI's per-route work (dependency solving, body
models through its own validation, response encoding) cost more than the handlers themselves.
These routes read their inputs with the helpers below, which give the same answers FastAPI
gives: a malformed identifier, body or field is a 400 ``bad_request`` naming the field
(:class:`~zorgid.web.errors.InvalidRequestError`). Errors are answered by the app's handlers
(:func:`zorgid.web.errors.install`), as for every other route. The rest of the service stays
on FastAPI.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.routing import Route

from zorgid.web.errors import InvalidRequestError, invalid_request

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from starlette.requests import Request
    from starlette.responses import Response

M = TypeVar("M", bound=BaseModel)
_ID = re.compile(r"[A-Za-z0-9_-]{22}")
MAX_FIELD = 100

#: The routes, in the order they are declared (create_app puts them first).
ROUTES: list[Route] = []


def route(
    path: str, *, methods: list[str]
) -> Callable[[Callable[[Request], Awaitable[Response]]], Callable[[Request], Awaitable[Response]]]:
    """Declare ``endpoint`` as a fast route for ``path``."""

    def register(
        endpoint: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        ROUTES.append(Route(path, endpoint, methods=methods))
        return endpoint

    return register


def login_id(request: Request) -> str:
    """The ``{login_id}`` of the path: 22 URL-safe base64 characters."""
    value = str(request.path_params["login_id"])
    if not _ID.fullmatch(value):
        raise InvalidRequestError("malformed login id", reason="login_id")
    return value


async def json_body(request: Request, model: type[M]) -> M:
    """The request's JSON body as ``model``, or a 400 naming what is wrong."""
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as error:
        raise invalid_request(error.errors()) from None


async def form_fields(request: Request, *names: str) -> dict[str, str]:
    """The named fields of a posted form ("" when absent), each at most 100 characters."""
    # The body first, whatever its type: one over the limit (zorgid.web.bodylimit) is a 413
    # before anything else (Starlette's form reader would leave a body of another type unread).
    await request.body()
    form = await request.form(max_files=0, max_fields=20)
    values: dict[str, str] = {}
    for name in names:
        value = form.get(name, "")
        if not isinstance(value, str) or len(value) > MAX_FIELD:
            raise InvalidRequestError(f"bad form field {name}", reason=name)
        values[name] = value
    return values
