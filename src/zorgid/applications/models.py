"""The public list of accepted applications ("Geaccepteerde ZORG-ID applicaties")."""

from __future__ import annotations

import datetime as dt  # noqa: TC003 - SQLAlchemy reads Mapped[] annotations at runtime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from zorgid.db.base import Base


class AcceptedApplication(Base):
    """A healthcare application people can log in to with ZORG-ID."""

    __tablename__ = "accepted_applications"

    #: A short stable id, e.g. ``example-his``: what organisation documents list under Applicaties.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    vendor: Mapped[str] = mapped_column(String(200))
    #: What it supports, in words (e.g. "Inloggen met ZORG-ID (OpenID Connect)").
    supports: Mapped[str] = mapped_column(String(500))
    website: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    #: Set when the operator withdrew it; withdrawn applications are listed no more.
    withdrawn_at: Mapped[dt.datetime | None]
