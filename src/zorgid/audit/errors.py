"""The audit log's errors.

::

ZorgidError
└── AuditError
    ├── CheckpointInvalidError        (a checkpoint file that cannot be trusted)
    ├── CheckpointDirectoryError      (the checkpoint directory cannot be read)
    └── CheckpointWriteError          (a checkpoint could not be written)
"""

from __future__ import annotations

from zorgid.core.i18n import N_
from zorgid.errors import ZorgidError


class AuditError(ZorgidError):
    """Something about the audit log or its checkpoints."""

    code = "audit_error"


class CheckpointInvalidError(AuditError):
    """A checkpoint file is unreadable, malformed, or not signed by the checkpoint key."""

    code = "audit_checkpoint_invalid"
    message = N_(
        "The checkpoint {checkpoint} cannot be trusted: {reason}. A checkpoint is only written "
        "by zorgid; find out who changed it, and check the log against the other checkpoints."
    )
    exit_code = 1


class CheckpointDirectoryError(AuditError):
    """The directory of checkpoints cannot be read."""

    code = "audit_checkpoints_unreadable"
    message = N_("The checkpoint directory {path} cannot be read: {reason}.")
    exit_code = 2


class CheckpointWriteError(AuditError):
    """A checkpoint could not be written to its directory."""

    code = "audit_checkpoint_not_written"
    message = N_(
        "The checkpoint could not be written to {path}: {reason}. Check "
        "ZORGID_AUDIT_CHECKPOINT_DIR."
    )
    exit_code = 2
