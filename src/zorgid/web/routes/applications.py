"""The public list of accepted applications ("Geaccepteerde ZORG-ID applicaties"): page and JSON."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from zorgid.web.auth import container_of
from zorgid.web.pages import render

router = APIRouter()


@router.get("/toepassingen")
def applications_page(request: Request) -> Response:
    """The accepted applications, for care organisations choosing or checking theirs."""
    container = container_of(request)
    with container.reading() as session:
        listed = container.applications(session).listed()
    return render(request, "applications_list.html", {"applications": listed})


@router.get("/api/toepassingen")
def applications_json(request: Request) -> Response:
    """The same list for programs (vendors, the validation tool)."""
    container = container_of(request)
    with container.reading() as session:
        listed = container.applications(session).listed()
    return JSONResponse({"applications": [application.as_json() for application in listed]})
