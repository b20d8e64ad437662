"""The web app factory: one FastAPI app around one :class:`~zorgid.bootstrap.Container`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles

from zorgid import __version__
from zorgid.audit.checkpoints import FORMAT
from zorgid.bootstrap import MailRuntime
from zorgid.core import useragent
from zorgid.web import errors, fastpath
from zorgid.web.bodylimit import BodyLimit
from zorgid.web.fastpath import Held
from zorgid.web.observability import Metrics, RequestObserver
from zorgid.web.openapi import document as openapi_document
from zorgid.web.pages import STATIC
from zorgid.web.ratelimit import RateLimit, peer_address
from zorgid.web.routes import app_api, applications, backoffice, ops, portal, registration
from zorgid.web.security import SecurityHeaders

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.types import ASGIApp

    from zorgid.bootstrap import Container


PURGE_SECONDS = 600.0
log = logging.getLogger("zorgid.web")
audit_log = structlog.get_logger("zorgid.audit")


async def _purge_periodically(container: Container) -> None:
    """Now and then expire registrations and delete expired logins, sessions and codes.

    Every node may do it: both are idempotent under concurrency.
    """
    while True:
        for task in (container.expire_registrations, container.purge_expired):
            try:
                await run_in_threadpool(task)
            except Exception:
                log.warning("periodic %s failed", task.__name__, exc_info=True)
        await asyncio.sleep(PURGE_SECONDS)


async def _checkpoint_periodically(container: Container) -> None:
    """Now and then publish a signed checkpoint of the audit log's head (when it moved).

    Each one is also a log line, so that the log is a second place it is published.
    """
    minutes = container.settings.audit_checkpoint_minutes
    while True:
        try:
            written = await run_in_threadpool(container.publish_checkpoint)
        except Exception:
            log.warning("writing an audit checkpoint failed", exc_info=True)
        else:
            if written is not None:
                audit_log.info(
                    "audit_checkpoint",
                    format=FORMAT,
                    seq=written.seq,
                    hash=written.hash,
                    at=written.at.isoformat(),
                    key=written.key,
                    signature=written.signature,
                    file=written.name,
                )
        await asyncio.sleep(minutes * 60)


class ZorgidApp(FastAPI):
    """FastAPI with the request log, the security headers and the body limit around everything.

    Middleware added with ``add_middleware`` runs inside Starlette's ServerErrorMiddleware, so
    the 500 page of a defect would leave without the headers and unlogged; these wrap the whole
    stack instead.
    """

    def build_middleware_stack(self) -> ASGIApp:
        """The app's stack inside the body limit, the security headers and the request log.

        The held routes (the browser's event stream) are served beside the app's own stack,
        inside these three (zorgid.web.fastpath.Held).
        """
        stack = Held(super().build_middleware_stack(), owner=self, routes=fastpath.HELD)
        return RequestObserver(SecurityHeaders(BodyLimit(stack)), metrics=self.state.metrics)


def create_app(container: Container) -> FastAPI:
    """The service's ASGI app."""
    mail = MailRuntime(container)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await container.events.start()
        await run_in_threadpool(useragent.prepare)
        await run_in_threadpool(mail.start)
        tasks = [asyncio.create_task(_purge_periodically(container), name="zorgid-purge")]
        settings = container.settings
        if settings.audit_checkpoint_dir is not None and settings.audit_checkpoint_minutes:
            checkpoints = _checkpoint_periodically(container)
            tasks.append(asyncio.create_task(checkpoints, name="zorgid-audit-checkpoints"))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await run_in_threadpool(mail.stop)
            await container.events.stop()

    app = ZorgidApp(
        title="ZORG-ID",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.container = container

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app)
        return app.openapi_schema

    # The whole document, not only FastAPI's routes (zorgid.web.openapi).
    app.openapi = openapi  # type: ignore[method-assign]
    app.state.mail = mail
    app.state.metrics = Metrics()
    errors.install(app)
    # The login's requests first, as plain routes (zorgid.web.fastpath); then everything else.
    app.router.routes.extend(fastpath.ROUTES)
    app.include_router(portal.router)
    app.include_router(app_api.router)
    app.include_router(ops.router)
    app.include_router(applications.router)
    app.include_router(registration.router)
    app.include_router(backoffice.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(
        RateLimit, per_minute=container.settings.rate_limit_per_minute, client=peer_address
    )
    return app
