"""Signed checkpoints of the audit log's head, published outside the database.

A checkpoint says "the log held event ``seq`` with hash ``hash`` at moment ``at``", signed
with the checkpoint key (Ed25519, ``checkpoint.key`` in the key directory; its public key
``checkpoint.pub`` is what an auditor needs). Each is one file, written at once
(:func:`zorgid.core.files.write_atomically`), in a directory of the operator's choice, which
should be on another host or write-once storage: :func:`zorgid.audit.log.verify_chain` then
finds a log rewritten behind a checkpoint, or cut back below it.

A file is one JSON object::

    {"at": "2026-12-07T22:00:00+00:00", "format": "zorgid-audit-checkpoint/1",
     "hash": "<64 hex>", "key": "<key id: 16 hex>", "seq": 123, "signature": "<base64>"}

The signature covers the canonical JSON (keys sorted, no spaces, ASCII) of the object without
``signature``. The key id is the first 8 bytes of SHA-256 over the raw public key, in hex.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from zorgid.audit.errors import (
    CheckpointDirectoryError,
    CheckpointInvalidError,
    CheckpointWriteError,
)
from zorgid.audit.models import AuditHead
from zorgid.core.files import write_atomically
from zorgid.core.i18n import N_, Message

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.orm import Session

FORMAT = "zorgid-audit-checkpoint/1"
#: A checkpoint file is about 250 bytes; anything much larger is not one.
MAX_BYTES = 4096
_HASH = re.compile(r"[0-9a-f]{64}")
_FIELDS = {"at", "format", "hash", "key", "seq", "signature"}


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint: the head of the log at a moment (``name``: its file, when read)."""

    seq: int
    hash: str
    at: dt.datetime
    key: str
    signature: str
    name: str = ""


def _signed(seq: int, head_hash: str, at: dt.datetime, key: str) -> dict[str, Any]:
    return {"at": at.isoformat(), "format": FORMAT, "hash": head_hash, "key": key, "seq": seq}


def _canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def file_name(seq: int, head_hash: str) -> str:
    """The file of the checkpoint of event ``seq`` with ``head_hash``."""
    return f"checkpoint-{seq:012d}-{head_hash[:16]}.json"


class CheckpointKey:
    """The public half of the checkpoint key: checks checkpoints."""

    def __init__(self, public: Ed25519PublicKey) -> None:
        self._public = public
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]

    @classmethod
    def from_pem(cls, data: bytes) -> CheckpointKey:
        """The key from ``checkpoint.pub``; :class:`ValueError` when it is not an Ed25519 key."""
        public = serialization.load_pem_public_key(data)
        if not isinstance(public, Ed25519PublicKey):
            msg = "not an Ed25519 public key"
            raise TypeError(msg)
        return cls(public)

    def pem(self) -> bytes:
        """The key as ``checkpoint.pub`` holds it (PEM SubjectPublicKeyInfo)."""
        return self._public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def read(self, data: bytes, *, name: str) -> Checkpoint:
        """The checkpoint in ``data`` (the file ``name``) once its signature holds.

        :class:`CheckpointInvalidError` saying why when it is not a checkpoint signed with
        this key.
        """

        def invalid(reason: str) -> CheckpointInvalidError:
            return CheckpointInvalidError(f"{name}: {reason}", checkpoint=name, reason=reason)

        if len(data) > MAX_BYTES:
            raise invalid(N_("the file is too large to be a checkpoint"))
        try:
            fields = json.loads(data.decode(), object_pairs_hook=_no_duplicates)
        except (UnicodeDecodeError, ValueError):
            raise invalid(N_("the file is not a checkpoint (not JSON)")) from None
        if (
            not isinstance(fields, dict)
            or set(fields) != _FIELDS
            or fields["format"] != FORMAT
            or type(fields["seq"]) is not int
            or fields["seq"] < 1
            or not isinstance(fields["hash"], str)
            or not _HASH.fullmatch(fields["hash"])
            or not all(isinstance(fields[f], str) for f in ("at", "key", "signature"))
        ):
            raise invalid(N_("the file is not a checkpoint (fields missing or malformed)"))
        if fields["key"] != self.key_id:
            raise CheckpointInvalidError(
                f"{name}: signed with key {fields['key']}",
                checkpoint=name,
                reason=Message(
                    N_("it names another checkpoint key ({key}, not {ours})"),
                    {"key": fields["key"], "ours": self.key_id},
                ),
            )
        signature = fields.pop("signature")
        try:
            self._public.verify(base64.b64decode(signature, validate=True), _canonical(fields))
        except (binascii.Error, InvalidSignature):
            raise invalid(N_("its signature does not hold: it was changed or forged")) from None
        try:
            at = dt.datetime.fromisoformat(fields["at"])
        except ValueError:  # signed, so ours: but never a traceback
            raise invalid(
                N_("the file is not a checkpoint (fields missing or malformed)")
            ) from None
        return Checkpoint(fields["seq"], fields["hash"], at, fields["key"], signature, name)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    fields = dict(pairs)
    if len(fields) != len(pairs):
        msg = "a field given twice"
        raise ValueError(msg)
    return fields


class CheckpointSigner:
    """The private checkpoint key (from the 32-byte seed in ``checkpoint.key``): signs."""

    def __init__(self, seed: bytes) -> None:
        self._private = Ed25519PrivateKey.from_private_bytes(seed)
        self.public = CheckpointKey(self._private.public_key())

    def sign(self, seq: int, head_hash: str, at: dt.datetime) -> tuple[Checkpoint, bytes]:
        """The checkpoint of event ``seq`` with ``head_hash`` at ``at``, and its file's bytes."""
        at = at.astimezone(dt.UTC).replace(microsecond=0)
        fields = _signed(seq, head_hash, at, self.public.key_id)
        signature = base64.b64encode(self._private.sign(_canonical(fields))).decode()
        data = json.dumps({**fields, "signature": signature}, sort_keys=True) + "\n"
        checkpoint = Checkpoint(
            seq, head_hash, at, self.public.key_id, signature, file_name(seq, head_hash)
        )
        return checkpoint, data.encode()


def head(session: Session) -> tuple[int, str]:
    """The log's head: the number and hash of its last event."""
    row = session.get(AuditHead, 1)
    return (0, "") if row is None else (row.seq, row.hash)


def publish(
    session: Session, signer: CheckpointSigner, directory: Path, *, now: dt.datetime
) -> Checkpoint | None:
    """Write a checkpoint of the head to ``directory``, unless it holds one of this head already.

    None when there was nothing new to write (the head has not moved, or the log is empty).
    """
    seq, head_hash = head(session)
    if seq == 0:
        return None
    path = directory / file_name(seq, head_hash)
    if path.exists():
        return None
    checkpoint, data = signer.sign(seq, head_hash, now)
    ready(directory)
    try:
        write_atomically(path, data)
    except OSError as error:
        raise CheckpointWriteError(
            str(error), path=str(directory), reason=error.strerror or str(error)
        ) from None
    return checkpoint


def ready(directory: Path) -> None:
    """Make ``directory`` if needed; :class:`CheckpointWriteError` when no file can go there."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CheckpointWriteError(
            str(error), path=str(directory), reason=error.strerror or str(error)
        ) from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise CheckpointWriteError(
            f"{directory} is not writable", path=str(directory), reason=N_("it is not writable")
        )


def read_directory(directory: Path, key: CheckpointKey) -> list[Checkpoint]:
    """Every checkpoint in ``directory`` (files ``checkpoint-*.json``), in order of ``seq``.

    :class:`CheckpointInvalidError` for the first file that cannot be trusted (its name in
    the message), :class:`CheckpointDirectoryError` when the directory cannot be read.
    """
    try:
        names = sorted(
            entry.name for entry in directory.iterdir() if entry.name.startswith("checkpoint-")
        )
    except OSError as error:
        raise CheckpointDirectoryError(
            str(error), path=str(directory), reason=error.strerror or str(error)
        ) from None
    found: list[Checkpoint] = []
    for name in names:
        try:
            data = (directory / name).read_bytes()
        except OSError as error:
            raise CheckpointInvalidError(
                f"{name}: {error}",
                checkpoint=name,
                reason=Message(N_("the file cannot be read ({error})"), {"error": error.strerror}),
            ) from None
        found.append(key.read(data, name=name))
    return sorted(found, key=lambda c: c.seq)
