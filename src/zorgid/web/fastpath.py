"""The login's eight requests as plain Starlette routes, ahead of FastAPI's.

Every login of the country makes them, and FastAPI's per-route work (dependency solving, body
models through its own validation, response encoding) cost more than the handlers themselves.
These routes read their inputs with the helpers below, which give the same answers FastAPI
gives: a malformed identifier, body or field is a 400 ``bad_request`` naming the field
(:class:`~zorgid.web.errors.InvalidRequestError`). Errors are answered by the app's handlers
(:func:`zorgid.web.errors.install`), as for every other route. The rest of the service stays
on FastAPI.

A route declared ``held`` (a browser's event stream, open for minutes, thousands at once) is
served for GET by :class:`Held`, outside the app's per-request stack: every middleware of that
stack keeps its frame and closures for as long as the request lasts (~6 KB a request).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.routing import Match, Route

from zorgid.web.errors import InvalidRequestError, invalid_request

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.types import ASGIApp, Receive, Scope, Send

M = TypeVar("M", bound=BaseModel)
_ID = re.compile(r"[A-Za-z0-9_-]{22}")
MAX_FIELD = 100

#: The routes, in the order they are declared (create_app puts them first).
ROUTES: list[Route] = []
#: Of these, the long ones that :class:`Held` serves.
HELD: list[Route] = []


def route(
    path: str, *, methods: list[str], held: bool = False
) -> Callable[[Callable[[Request], Awaitable[Response]]], Callable[[Request], Awaitable[Response]]]:
    """Declare ``endpoint`` as a fast route for ``path`` (``held``: see :class:`Held`)."""

    def register(
        endpoint: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        ROUTES.append(Route(path, endpoint, methods=methods))
        if held:
            HELD.append(ROUTES[-1])
        return endpoint

    return register


class Held:
    """Pure ASGI: a GET of a held route goes straight to its endpoint, around the app's stack.

    It sits inside the layers that wrap everything (the request log, the security headers, the
    body limit: zorgid.web.app), so only the app's own stack is skipped: Starlette's and
    FastAPI's middleware, the rate limit (which counts no GET of a held route: they only read),
    the router. An error of the endpoint is answered by the app's own handler for it (the same
    coded response as through the stack); an error once the response has started goes to the
    server, as it does through the stack. Every other request, HEAD of a held route included,
    takes the app's stack.
    """

    def __init__(self, app: ASGIApp, *, owner: Starlette, routes: Sequence[Route]) -> None:
        self.app = app
        self.owner = owner
        self.routes = tuple(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a held route's GET here; pass everything else on."""
        if scope["type"] == "http" and scope["method"] == "GET":
            for held in self.routes:
                match, child = held.matches(scope)
                if match is Match.FULL:
                    scope.update(child, app=self.owner)
                    await self._serve(held.endpoint, Request(scope, receive), send)
                    return
        await self.app(scope, receive, send)

    async def _serve(
        self, endpoint: Callable[[Request], Awaitable[Response]], request: Request, send: Send
    ) -> None:
        try:
            response = await endpoint(request)
        except Exception as error:
            handler = next(
                (
                    self.owner.exception_handlers[kind]
                    for kind in type(error).__mro__
                    if kind in self.owner.exception_handlers
                ),
                None,
            )
            if handler is None:
                raise
            response = await handler(request, error)
        await response(request.scope, request.receive, send)


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
