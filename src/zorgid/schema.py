"""Every mapped table, imported in one place so that migrations see the whole schema."""

from __future__ import annotations

from zorgid.applications.models import AcceptedApplication
from zorgid.audit.models import AuditEvent, AuditHead
from zorgid.db.base import Base
from zorgid.identity.models import ActivationCode, Device, Membership, Organisation, Person
from zorgid.login.models import LoginSession, PortalSession
from zorgid.mail.models import MailQuota, OutboxMessage
from zorgid.registration.models import RegistrationEvent, RegistrationRequest, UsedProofOfWork

metadata = Base.metadata

__all__ = [
    "AcceptedApplication",
    "ActivationCode",
    "AuditEvent",
    "AuditHead",
    "Device",
    "LoginSession",
    "MailQuota",
    "Membership",
    "Organisation",
    "OutboxMessage",
    "Person",
    "PortalSession",
    "RegistrationEvent",
    "RegistrationRequest",
    "UsedProofOfWork",
    "metadata",
]
