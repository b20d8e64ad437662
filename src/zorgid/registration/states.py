"""The registration state machine (flow 1b): explicit states, and which event moves where.

Pure: no database, no I/O. The service asks :func:`next_state` before it changes anything, so a
request can never reach a state by a path this table does not list (docs/protocol.md draws it)::

    submit ──> awaiting_document ──document_accepted──> awaiting_details
               awaiting_details ──details_given──> awaiting_review ──approve──> approved
               approved ──first_login──> completed
    awaiting_document | awaiting_details | awaiting_review ──reject──> rejected
    awaiting_document | awaiting_details | awaiting_review ──withdraw──> withdrawn
    awaiting_document | awaiting_details ──expire──> expired

An approved request does not expire: the organisation and its administrator exist by then; the
activation code has its own lifetime and the operator can send a new one.
"""

from __future__ import annotations

import enum
from types import MappingProxyType
from typing import TYPE_CHECKING

from zorgid.core.i18n import N_

if TYPE_CHECKING:
    from collections.abc import Mapping


class RegistrationState(enum.StrEnum):
    """Where a request is."""

    AWAITING_DOCUMENT = "awaiting_document"  # request mailed; waits for the signed document
    AWAITING_DETAILS = "awaiting_details"  # document accepted; waits for the administrator
    AWAITING_REVIEW = "awaiting_review"  # waits for the operator
    APPROVED = "approved"  # organisation and administrator made; activation QR mailed
    COMPLETED = "completed"  # the administrator logged in to the portal
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"

    @property
    def final(self) -> bool:
        """True when nothing can happen to the request any more."""
        return self in FINAL

    @property
    def label(self) -> str:
        """The state in words (an English msgid; translate for display)."""
        return STATE_LABELS[self]


class RegistrationEvent(enum.StrEnum):
    """What can happen to a request."""

    DOCUMENT_ACCEPTED = "document_accepted"
    DETAILS_GIVEN = "details_given"
    APPROVE = "approve"
    FIRST_LOGIN = "first_login"
    REJECT = "reject"
    WITHDRAW = "withdraw"
    EXPIRE = "expire"


S = RegistrationState
E = RegistrationEvent

#: The initial state of a submitted request.
INITIAL = S.AWAITING_DOCUMENT
FINAL = frozenset({S.COMPLETED, S.REJECTED, S.WITHDRAWN, S.EXPIRED})
_OPEN = (S.AWAITING_DOCUMENT, S.AWAITING_DETAILS, S.AWAITING_REVIEW)

TRANSITIONS: Mapping[tuple[RegistrationState, RegistrationEvent], RegistrationState] = (
    MappingProxyType(
        {
            (S.AWAITING_DOCUMENT, E.DOCUMENT_ACCEPTED): S.AWAITING_DETAILS,
            (S.AWAITING_DETAILS, E.DETAILS_GIVEN): S.AWAITING_REVIEW,
            (S.AWAITING_REVIEW, E.APPROVE): S.APPROVED,
            (S.APPROVED, E.FIRST_LOGIN): S.COMPLETED,
            **{(state, E.REJECT): S.REJECTED for state in _OPEN},
            **{(state, E.WITHDRAW): S.WITHDRAWN for state in _OPEN},
            # The organisation did not answer in time.
            (S.AWAITING_DOCUMENT, E.EXPIRE): S.EXPIRED,
            (S.AWAITING_DETAILS, E.EXPIRE): S.EXPIRED,
        }
    )
)

#: The states that wait on the organisation's answer, and so have a deadline.
WAITING = frozenset({S.AWAITING_DOCUMENT, S.AWAITING_DETAILS})
#: The states whose e-mail the operator can send again (with new links or a new code).
RESENDABLE = WAITING | {S.APPROVED}

STATE_LABELS: Mapping[RegistrationState, str] = MappingProxyType(
    {
        S.AWAITING_DOCUMENT: N_("Waiting for the signed organisation document"),
        S.AWAITING_DETAILS: N_("Waiting for the portal administrator's details"),
        S.AWAITING_REVIEW: N_("Waiting for review by the operator"),
        S.APPROVED: N_("Approved; waiting for the administrator's first login"),
        S.COMPLETED: N_("Completed"),
        S.REJECTED: N_("Rejected"),
        S.WITHDRAWN: N_("Withdrawn"),
        S.EXPIRED: N_("Expired"),
    }
)


def next_state(state: RegistrationState, event: RegistrationEvent) -> RegistrationState | None:
    """The state ``event`` leads to from ``state``, or None when it is not allowed there."""
    return TRANSITIONS.get((state, event))
