"""The web app factory: one FastAPI app around one :class:`~zorgid.bootstrap.Container`."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from zorgid import __version__
from zorgid.web import errors
from zorgid.web.observability import Metrics, RequestObserver
from zorgid.web.pages import STATIC
from zorgid.web.routes import app_api, ops, portal
from zorgid.web.security import SecurityHeaders

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from zorgid.bootstrap import Container


def create_app(container: Container) -> FastAPI:
    """The service's ASGI app."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await container.events.start()
        try:
            yield
        finally:
            await container.events.stop()

    app = FastAPI(
        title="ZORG-ID",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.container = container
    app.state.metrics = Metrics()
    errors.install(app)
    app.include_router(portal.router)
    app.include_router(app_api.router)
    app.include_router(ops.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestObserver, metrics=app.state.metrics)
    return app
