"""Who is on the other end of a request, as far as the service can tell."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.requests import Request


def client_ip(request: Request) -> str:
    """The client's address: the peer's, or X-Forwarded-For from a trusted proxy.

    uvicorn applies ZORGID_FORWARDED_ALLOW_IPS (see docs/operations.md).
    """
    return request.client.host if request.client else "unknown"


def user_agent(request: Request) -> str:
    """The browser's self-description, shortened for display in the app."""
    return request.headers.get("user-agent", "")[:300]
