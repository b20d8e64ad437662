"""Plain data views of core results, shared by the JSON output of several commands."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zorgid.orgdoc.document import OrganisationDocument
    from zorgid.pki.uzi import UziCertificate


def iso(moment: dt.datetime) -> str:
    """ISO 8601 in UTC with a Z."""
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def certificate_view(info: UziCertificate) -> dict[str, Any]:
    """The ``inspect --json`` shape of formats.md."""
    uzi = info.uzi
    return {
        "subject": info.subject,
        "issuer": info.issuer,
        "serial": info.serial,
        "not_before": iso(info.not_before),
        "not_after": iso(info.not_after),
        "uzi": None
        if uzi is None
        else {
            "oid_ca": uzi.oid_ca,
            "version": uzi.version,
            "uzi_number": uzi.uzi_number,
            "card_type": uzi.card_type.value,
            "ura": uzi.ura,
            "role": uzi.role.code,
            "agb": uzi.agb,
            "environment": uzi.environment,
        },
        "upn": info.upn,
        "permanent_identifier": None
        if info.permanent_identifier is None
        else {
            "value": info.permanent_identifier.value,
            "assigner": info.permanent_identifier.assigner,
        },
    }


def organisation_view(document: OrganisationDocument) -> dict[str, Any]:
    """The ``organisation`` object of ``verify --json``: exactly the fields of formats.md."""
    return {"ura": document.ura, "naam": document.naam}
