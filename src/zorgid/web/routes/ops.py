"""For the people who run the service: liveness, readiness and metrics."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import JSONResponse, Response

from zorgid.db.migrate import is_current
from zorgid.web.client import client_ip
from zorgid.web.errors import NotFoundError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from ipaddress import IPv4Network, IPv6Network

    from zorgid.bootstrap import Container

router = APIRouter()


@router.get("/healthz")
async def health() -> JSONResponse:
    """The process answers (on the event loop: a liveness probe needs no worker thread)."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
def ready(request: Request) -> Response:
    """The database answers and its schema is current: send traffic here."""
    container: Container = request.app.state.container
    try:
        with container.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = is_current(container.engine)
    except SQLAlchemyError:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    if not current:
        return JSONResponse({"status": "unavailable", "database": "not migrated"}, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Prometheus metrics of this process, for the addresses of ZORGID_METRICS_ALLOW only.

    Anyone else is told there is no such page: what the service counts is for its operators.
    """
    container: Container = request.app.state.container
    if not _allowed(client_ip(request), container.settings.metrics_networks):
        raise NotFoundError(f"metrics refused to {client_ip(request)}")
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )


def _allowed(address: str, networks: Sequence[IPv4Network | IPv6Network]) -> bool:
    try:
        client = ipaddress.ip_address(address)
    except ValueError:  # "unknown", a Unix socket's peer
        return False
    if isinstance(client, ipaddress.IPv6Address) and client.ipv4_mapped:
        client = client.ipv4_mapped
    return any(client in network for network in networks)
