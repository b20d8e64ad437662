"""The public form's proof of work (ALTCHA): challenges, their checks, and single use.

The browser's widget fetches a challenge, finds a counter whose PBKDF2/SHA-256 key starts with
the challenge's prefix, and sends the solution with the form. Creating and checking follow the
ALTCHA v2 protocol through the ``altcha`` package; what it leaves to the service is here:

- **Key.** Challenges are signed with HMAC-SHA-256 under a key derived from ``secret.key``
  (kept outside the database), with its own label, so no other token of the service is a
  valid challenge signature or the other way round.
- **Time.** The expiry is the service's clock (signed, in the challenge's ``data``), not the
  wall clock the package would read, and short (``ZORGID_PROOF_OF_WORK_SECONDS``).
- **Single use.** A solved challenge is recorded (its nonce) until it expires, in the database
  so that it holds on every node and after a restart; a second use is refused. Expired records
  are removed when a new one is written.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import altcha
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from zorgid.db.base import table
from zorgid.registration.errors import ProofOfWorkError, ProofOfWorkMissingError
from zorgid.registration.models import UsedProofOfWork

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from zorgid.core.clock import Clock

_USED = table(UsedProofOfWork)
ALGORITHM = "PBKDF2/SHA-256"
#: The derived key must start with this byte: 256 attempts on average.
KEY_PREFIX = "00"
#: A payload is a few hundred bytes of base64; anything far longer is not one.
MAX_PAYLOAD = 4000
MAX_NONCE = 64


@dataclass(frozen=True)
class Solved:
    """A correctly solved challenge of ours, not yet recorded as used."""

    nonce: str
    expires_at: dt.datetime


def proof_key(secret: bytes) -> bytes:
    """The HMAC key of challenges, derived from the service's ``secret.key``."""
    return hmac.new(secret, b"zorgid-altcha-v1", hashlib.sha256).digest()


class ProofOfWork:
    """Challenges for the public form, and the check of a solution sent with it."""

    def __init__(self, *, key: bytes, clock: Clock, cost: int, seconds: int) -> None:
        self._key = key
        self._clock = clock
        self._cost = cost
        self._seconds = seconds

    def challenge(self) -> dict[str, Any]:
        """A new signed challenge, as the widget fetches it (JSON)."""
        expires = self._clock.now() + dt.timedelta(seconds=self._seconds)
        made = altcha.create_challenge(
            ALGORITHM,
            self._cost,
            key_prefix=KEY_PREFIX,
            data={"expires": int(expires.timestamp())},
            hmac_secret=self._key,
        )
        return dict(made.to_dict())

    def check(self, payload: str) -> Solved:
        """The challenge ``payload`` (the widget's base64 field) solves, or raise why not.

        Pure and outside any transaction: the one key derivation it costs holds no lock.
        """
        payload = payload.strip()
        if not payload:
            raise ProofOfWorkMissingError("no proof of work")
        parsed = self._parsed(payload)
        parameters = parsed.challenge.parameters
        expires = parameters.data.get("expires") if isinstance(parameters.data, dict) else None
        if not isinstance(expires, int) or expires <= self._clock.now().timestamp():
            raise ProofOfWorkError(f"challenge expired or without expiry: {expires!r}")
        if parameters.algorithm != ALGORITHM:
            raise ProofOfWorkError(f"not our algorithm: {parameters.algorithm!r}")
        checked = altcha.verify_solution(parsed, self._key)
        if not checked.verified:
            raise ProofOfWorkError(
                f"not verified (signature {checked.invalid_signature}, "
                f"solution {checked.invalid_solution})"
            )
        return Solved(parameters.nonce, dt.datetime.fromtimestamp(expires, dt.UTC))

    def redeem(self, solved: Solved, session: Session) -> None:
        """Record ``solved`` as used in ``session`` (the caller commits), or raise if it was."""
        dialect = session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        session.execute(delete(_USED).where(_USED.c.expires_at < self._clock.now()))
        recorded = session.scalar(
            insert(_USED)
            .values(nonce=solved.nonce, expires_at=solved.expires_at)
            .on_conflict_do_nothing()
            .returning(_USED.c.nonce)
        )
        if recorded is None:
            raise ProofOfWorkError("challenge used before")

    @staticmethod
    def _parsed(payload: str) -> altcha.Payload:
        if len(payload) > MAX_PAYLOAD:
            raise ProofOfWorkError(f"payload of {len(payload)} characters")
        try:
            parsed = altcha.Payload.from_dict(json.loads(base64.b64decode(payload, validate=True)))
            nonce = parsed.challenge.parameters.nonce
        except (ValueError, TypeError, KeyError, AttributeError, binascii.Error, RecursionError):
            raise ProofOfWorkError("payload cannot be read") from None
        if not isinstance(nonce, str) or not 0 < len(nonce) <= MAX_NONCE:
            raise ProofOfWorkError("nonce missing or too long")
        return parsed
