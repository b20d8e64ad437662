"""What the app knows, as frozen values, and how it reads them from untrusted JSON.

The same readers serve the service's answers (docs/protocol.md) and the app's own cache
(``device.json``): both are checked field by field, and every text meant for a terminal is
cleaned of control characters first (a browser's User-Agent is chosen by whoever asks).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

#: Identifiers that go into URL paths and signing strings (device ids are the service's).
IDENTIFIER = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: The code the person types in the browser.
LOGIN_CODE = re.compile(r"[0-9A-Za-z]{4,12}")
#: A login challenge (base64url, as the service's tokens are).
CHALLENGE = re.compile(r"[A-Za-z0-9_-]{16,128}")
#: A role or a login state as the protocol spells it.
WORD = re.compile(r"[a-z][a-z_]{0,31}")
#: An organisation's URA: eight digits.
URA = re.compile(r"[0-9]{8}")

_TEXT_LIMIT = 300


class MalformedError(ValueError):
    """A JSON value is not what the protocol (or the app's cache) says it is."""


class DeviceStatus(enum.StrEnum):
    """The device's standing at the service (protocol.md "Device status")."""

    ACTIVE = "active"
    BLOCKED = "blocked"
    REVOKED = "revoked"


@dataclass(frozen=True)
class Organisation:
    """A care organisation the person works for."""

    ura: str
    name: str


@dataclass(frozen=True)
class Membership:
    """One role; ``organisation`` is None for a role for the service itself (operator)."""

    role: str
    organisation: Organisation | None


@dataclass(frozen=True)
class Identity:
    """What the service says about this device and its person: the app's "ID" screen."""

    device_id: str
    service_name: str
    person_name: str
    memberships: tuple[Membership, ...]
    status: DeviceStatus
    #: The service told the app to delete its key (revoked or blocked).
    wipe: bool = False

    def roles(self) -> tuple[str, ...]:
        """Every role, the operator role included, each once, in the service's order."""
        return tuple(dict.fromkeys(m.role for m in self.memberships))

    def organisations(self) -> tuple[tuple[Organisation, tuple[str, ...]], ...]:
        """Each organisation once, with the person's roles there."""
        grouped: dict[str, tuple[Organisation, list[str]]] = {}
        for membership in self.memberships:
            if membership.organisation is None:
                continue
            entry = grouped.setdefault(membership.organisation.ura, (membership.organisation, []))
            if membership.role not in entry[1]:
                entry[1].append(membership.role)
        return tuple((organisation, tuple(roles)) for organisation, roles in grouped.values())


@dataclass(frozen=True)
class LoginRequest:
    """Who asks to log in (protocol.md "QR login", the scan answer)."""

    service_name: str
    host: str
    requested_at: dt.datetime
    expires_at: dt.datetime
    browser_ip: str
    user_agent: str
    code: str


@dataclass(frozen=True)
class LoginProgress:
    """One answer of the wait long poll; ``challenge`` only once the browser confirmed."""

    state: str
    challenge: str | None


@dataclass(frozen=True)
class LoginOutcome:
    """The service's answer to approve or decline."""

    state: str
    person_name: str | None


# --- reading untrusted JSON ------------------------------------------------------------------


def clean_text(value: str, *, limit: int = _TEXT_LIMIT) -> str:
    """``value`` safe to print: no control or bidi-formatting characters, at most ``limit`` long."""
    cleaned = "".join(
        "\N{REPLACEMENT CHARACTER}"
        if unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"}
        else char
        for char in value[: limit + 1]
    ).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"


def obj(value: object, where: str) -> dict[str, Any]:
    """``value`` as a JSON object."""
    if not isinstance(value, dict):
        raise MalformedError(f"{where}: not an object")
    return value


def text(data: dict[str, Any], key: str, where: str, *, optional: bool = False) -> str:
    """The string ``data[key]``, cleaned for a terminal (``""`` when optional and absent)."""
    value = data.get(key)
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise MalformedError(f"{where}.{key}: not a string")
    return clean_text(value)


def matching(data: dict[str, Any], key: str, pattern: re.Pattern[str], where: str) -> str:
    """The string ``data[key]``, which must match ``pattern`` in full."""
    value = data.get(key)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise MalformedError(f"{where}.{key}: missing or malformed")
    return value


def moment(data: dict[str, Any], key: str, where: str) -> dt.datetime:
    """An ISO 8601 UTC time with a ``Z`` (protocol.md "Conventions")."""
    value = data.get(key)
    if not isinstance(value, str) or not value.endswith("Z") or len(value) > 40:  # noqa: PLR2004
        raise MalformedError(f"{where}.{key}: not an ISO 8601 UTC time")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise MalformedError(f"{where}.{key}: not an ISO 8601 UTC time") from None
    return parsed.astimezone(dt.UTC)


def iso(value: dt.datetime) -> str:
    """A time as the protocol writes it: ISO 8601, UTC, seconds, ``Z``."""
    return value.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def identity_from_json(value: object, where: str = "answer") -> Identity:
    """Read the activation / device-status answer (protocol.md "Activation")."""
    data = obj(value, where)
    service = obj(data.get("service"), f"{where}.service")
    person = obj(data.get("person"), f"{where}.person")
    raw_memberships = data.get("memberships")
    if not isinstance(raw_memberships, list) or len(raw_memberships) > 1000:  # noqa: PLR2004
        raise MalformedError(f"{where}.memberships: not a list")
    try:
        status = DeviceStatus(str(data.get("status")))
    except ValueError:
        raise MalformedError(f"{where}.status: unknown") from None
    wipe = data.get("wipe", False)
    if not isinstance(wipe, bool):
        raise MalformedError(f"{where}.wipe: not a boolean")
    return Identity(
        device_id=matching(data, "device_id", IDENTIFIER, where),
        service_name=text(service, "name", f"{where}.service"),
        person_name=text(person, "name", f"{where}.person"),
        memberships=tuple(
            _membership(item, f"{where}.memberships[{index}]")
            for index, item in enumerate(raw_memberships)
        ),
        status=status,
        wipe=wipe,
    )


def identity_to_json(identity: Identity) -> dict[str, Any]:
    """The protocol's shape of ``identity`` (for the app's cache)."""
    return {
        "device_id": identity.device_id,
        "service": {"name": identity.service_name},
        "person": {"name": identity.person_name},
        "memberships": [
            {
                "role": m.role,
                "organisation": None
                if m.organisation is None
                else {"ura": m.organisation.ura, "name": m.organisation.name},
            }
            for m in identity.memberships
        ],
        "status": identity.status.value,
    }


def _membership(value: object, where: str) -> Membership:
    data = obj(value, where)
    organisation = data.get("organisation")
    return Membership(
        role=matching(data, "role", WORD, where),
        organisation=None
        if organisation is None
        else Organisation(
            ura=matching(obj(organisation, f"{where}.organisation"), "ura", URA, where),
            name=text(obj(organisation, f"{where}.organisation"), "name", where),
        ),
    )


def login_request_from_json(value: object) -> LoginRequest:
    """Read the scan answer (protocol.md "QR login")."""
    data = obj(value, "scan")
    service = obj(data.get("service"), "scan.service")
    browser = obj(data.get("browser"), "scan.browser")
    return LoginRequest(
        service_name=text(service, "name", "scan.service"),
        host=text(service, "host", "scan.service"),
        requested_at=moment(data, "requested_at", "scan"),
        expires_at=moment(data, "expires_at", "scan"),
        browser_ip=text(browser, "ip", "scan.browser", optional=True),
        user_agent=text(browser, "user_agent", "scan.browser", optional=True),
        code=matching(data, "code", LOGIN_CODE, "scan"),
    )


def login_progress_from_json(value: object) -> LoginProgress:
    """Read one wait answer: a state, and the challenge once confirmed."""
    data = obj(value, "wait")
    state = matching(data, "state", WORD, "wait")
    challenge = matching(data, "challenge", CHALLENGE, "wait") if state == "confirmed" else None
    return LoginProgress(state=state, challenge=challenge)


def login_outcome_from_json(value: object) -> LoginOutcome:
    """Read the answer to approve/decline."""
    data = obj(value, "answer")
    person = data.get("person")
    name = None
    if person is not None:
        name = text(obj(person, "answer.person"), "name", "answer.person", optional=True) or None
    return LoginOutcome(state=matching(data, "state", WORD, "answer"), person_name=name)
