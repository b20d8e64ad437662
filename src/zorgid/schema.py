"""Every mapped table, imported in one place so that migrations see the whole schema."""

from __future__ import annotations

from zorgid.audit.models import AuditEvent, AuditHead
from zorgid.db.base import Base
from zorgid.identity.models import ActivationCode, Device, Membership, Organisation, Person
from zorgid.login.models import LoginSession, PortalSession

metadata = Base.metadata

__all__ = [
    "ActivationCode",
    "AuditEvent",
    "AuditHead",
    "Device",
    "LoginSession",
    "Membership",
    "Organisation",
    "Person",
    "PortalSession",
    "metadata",
]
