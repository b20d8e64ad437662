"""Errors of the list of accepted applications.

::

    ZorgidError
    └── ApplicationError
        ├── ApplicationInvalidError       (problems: field -> msgid; the form is shown again)
        ├── ApplicationUnknownError       (no application with this id)
        ├── ApplicationExistsError        (the id is taken, also by a withdrawn one)
        ├── ApplicationWithdrawnError     (withdrawn: it cannot be changed or withdrawn again)
        └── ApplicationNotAcceptedError   (a registration names ids that are not on the list)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zorgid.core.i18n import N_, Message
from zorgid.errors import ZorgidError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


class ApplicationError(ZorgidError):
    """Base of accepted-application errors."""

    code = "application_error"


class ApplicationInvalidError(ApplicationError):
    """One or more fields of an application are missing or not acceptable."""

    code = "application_invalid"
    message = N_("The application's details are not valid: {reason}")

    def __init__(self, problems: Mapping[str, str]) -> None:
        super().__init__(
            ", ".join(f"{k}: {v}" for k, v in problems.items()),
            reason=tuple(Message(problem) for problem in problems.values()),
        )
        #: Field name -> English msgid saying what is wrong there.
        self.problems = dict(problems)


class ApplicationUnknownError(ApplicationError):
    """No application has this id."""

    code = "application_unknown"
    message = N_("There is no accepted application with the id {id}.")


class ApplicationExistsError(ApplicationError):
    """The id is taken (ids are never reused, so a withdrawn one keeps its id too)."""

    code = "application_exists"
    message = N_(
        "An application with the id {id} exists already (perhaps withdrawn). Choose another id."
    )


class ApplicationWithdrawnError(ApplicationError):
    """A withdrawn application stays as it was withdrawn."""

    code = "application_withdrawn"
    message = N_("The application {id} has been withdrawn; it can no longer be changed.")


class ApplicationNotAcceptedError(ApplicationError):
    """Ids that are not (or no longer) on the list of accepted applications."""

    code = "application_not_accepted"
    message = N_(
        "These applications are not on the list of accepted applications: {ids}. Choose from "
        "the list."
    )

    def __init__(self, unknown: Iterable[str]) -> None:
        self.unknown = tuple(unknown)
        # Shown shortened: the ids came from outside and may be anything.
        shown = ", ".join(ident[:64] for ident in self.unknown[:10])
        super().__init__(f"not accepted: {shown}", ids=shown)
