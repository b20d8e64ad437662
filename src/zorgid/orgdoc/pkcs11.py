"""Signing with a key on a PKCS#11 token: the smartcard or HSM that holds a UZI server key.

:func:`open_pkcs11_signer` loads the token vendor's module, finds the token by its label, logs in,
finds the private key by ``CKA_LABEL`` and its certificate (same ``CKA_ID``, else same label),
checks that the two belong together and returns a :class:`Pkcs11Signer`, a
:class:`~zorgid.orgdoc.keys.Signer` whose private key never leaves the token.

Every failure is a :class:`~zorgid.orgdoc.errors.Pkcs11Error` (or a subclass) with a ``reason``
param; no exception of python-pkcs11 leaves this module.

Mechanisms (PKCS#11 v2.40 Current Mechanisms): RSA uses ``CKM_SHA{256,384,512}_RSA_PKCS``
(§2.1.11), or raw ``CKM_RSA_PKCS`` over a host-built DigestInfo (§2.1.6, RFC 8017 §9.2) when the
token lacks those. ECDSA uses ``CKM_ECDSA_SHA{256,384}`` when offered, else ``CKM_ECDSA`` over a
host-computed hash (§2.3.6, what most tokens offer). A PKCS#11 ECDSA signature is already r||s,
each as long as the curve order (§2.3.1) — exactly the XMLDSig form of RFC 4050, so it is
returned as it is.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Self

import pkcs11
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass, TokenFlag
from pkcs11 import exceptions as p11
from pkcs11.util.ec import encode_named_curve_parameters

from zorgid.core.i18n import N_, Message
from zorgid.orgdoc.errors import (
    Pkcs11CertificateError,
    Pkcs11CertificateMismatchError,
    Pkcs11Error,
    Pkcs11KeyError,
    Pkcs11ModuleError,
    Pkcs11PinError,
    Pkcs11PinLockedError,
    Pkcs11TokenError,
)
from zorgid.orgdoc.keys import SignatureAlgorithm, default_algorithm

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from types import TracebackType

    from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
    from pkcs11._pkcs11 import lib as Library  # noqa: N812 - the stub names the class `lib`

__all__ = ["Pkcs11Signer", "open_pkcs11_signer"]

#: Hash-and-sign mechanisms per digest, preferred when the token offers them.
_RSA_MECHANISMS: Final = {
    "sha256": Mechanism.SHA256_RSA_PKCS,
    "sha384": Mechanism.SHA384_RSA_PKCS,
    "sha512": Mechanism.SHA512_RSA_PKCS,
}
_ECDSA_MECHANISMS: Final = {
    "sha256": Mechanism.ECDSA_SHA256,
    "sha384": Mechanism.ECDSA_SHA384,
}
#: DER DigestInfo prefixes (RFC 8017 §9.2 note 1) for tokens that only do raw CKM_RSA_PKCS.
_DIGEST_INFO_PREFIXES: Final = {
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
#: Intermediates to follow on the token from the signer certificate up; UZI has one.
_MAX_CHAIN: Final = 4

#: What the person is told for python-pkcs11's exceptions (the exception name goes to the log).
_FAILURES: Final[dict[type[p11.PKCS11Error], tuple[type[Pkcs11Error], str]]] = {
    p11.PinIncorrect: (Pkcs11PinError, N_("the PIN is wrong")),
    p11.PinInvalid: (Pkcs11PinError, N_("the token does not accept a PIN with these characters")),
    p11.PinLenRange: (Pkcs11PinError, N_("the PIN is too short or too long for this token")),
    p11.PinExpired: (
        Pkcs11PinError,
        N_("the PIN has expired; set a new one with the token's software"),
    ),
    p11.PinLocked: (Pkcs11PinLockedError, N_("the PIN is locked")),
    p11.UserPinNotInitialized: (
        Pkcs11PinError,
        N_("the token has no user PIN yet; set one with the token's software"),
    ),
    p11.UserNotLoggedIn: (Pkcs11PinError, N_("the token needs a PIN to use this key")),
    p11.UserAlreadyLoggedIn: (
        Pkcs11Error,
        N_("another session of this program is already logged in to the token"),
    ),
    p11.FunctionCancelled: (
        Pkcs11Error,
        N_("signing was cancelled (for example on the PIN pad)"),
    ),
    p11.DeviceRemoved: (Pkcs11Error, N_("the token was removed")),
    p11.TokenNotPresent: (Pkcs11Error, N_("the token was removed")),
    p11.TokenNotRecognised: (Pkcs11Error, N_("the module does not recognise the token")),
    p11.DeviceMemory: (Pkcs11Error, N_("the token ran out of memory")),
    p11.SessionClosed: (Pkcs11Error, N_("the session with the token was closed")),
    p11.SessionHandleInvalid: (Pkcs11Error, N_("the session with the token was closed")),
    p11.SessionCount: (Pkcs11Error, N_("the token has too many open sessions")),
    p11.MechanismInvalid: (Pkcs11Error, N_("the token does not offer the signing mechanism")),
    p11.KeyTypeInconsistent: (Pkcs11Error, N_("the key does not fit the signing mechanism")),
}


@dataclass(frozen=True)
class _Plan:
    """How to sign on this token: the mechanism, and whether the host hashes first."""

    mechanism: Mechanism
    prehash: bool


def _plan(algorithm: SignatureAlgorithm, mechanisms: frozenset[Mechanism] | None) -> _Plan:
    """Choose the mechanism for ``algorithm`` among the token's (None: the token did not say)."""
    name = algorithm.hash().name
    if algorithm.key_type == "rsa":
        combined = _RSA_MECHANISMS[name]
        if mechanisms is None or combined in mechanisms:
            return _Plan(combined, prehash=False)
        if Mechanism.RSA_PKCS in mechanisms:
            return _Plan(Mechanism.RSA_PKCS, prehash=True)
    else:
        combined = _ECDSA_MECHANISMS[name]
        if mechanisms is not None and combined in mechanisms:
            return _Plan(combined, prehash=False)
        # Plain CKM_ECDSA is what nearly every EC token offers, so it is also the blind guess.
        if mechanisms is None or Mechanism.ECDSA in mechanisms:
            return _Plan(Mechanism.ECDSA, prehash=True)
    raise Pkcs11Error(
        f"mechanisms offered: {sorted(m.name for m in mechanisms)}",
        reason=Message(
            N_("the token offers no mechanism for {algorithm}"),
            {"algorithm": algorithm.uri.rsplit("#", 1)[-1]},
        ),
    )


class Pkcs11Signer:
    """A :class:`~zorgid.orgdoc.keys.Signer` whose private key stays on a PKCS#11 token.

    Made by :func:`open_pkcs11_signer`; close it (or use it as a context manager) to end the
    session with the token. PKCS#11 logs a whole process in to a token, not one session: keep one
    signer per token open at a time, as closing one logs every session on that token out.
    """

    def __init__(  # noqa: PLR0913 - internal: only open_pkcs11_signer builds it, by keyword
        self,
        *,
        session: pkcs11.Session,
        key: pkcs11.SignMixin,
        token_label: str,
        certificate: x509.Certificate,
        chain: tuple[x509.Certificate, ...],
        plan: _Plan,
        signing_pin: str | None,
    ) -> None:
        self._session: pkcs11.Session | None = session
        self._key = key
        self._token_label = token_label
        self._certificate = certificate
        self._chain = chain
        self._algorithm = default_algorithm(certificate)
        self._plan = plan
        # Only set for keys with CKA_ALWAYS_AUTHENTICATE, which want the PIN for every signature.
        self._signing_pin = signing_pin

    @property
    def certificate(self) -> x509.Certificate:
        """The signer certificate (its public key matches the key on the token)."""
        return self._certificate

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """Intermediate CA certificates found on the token, nearest first (may be empty)."""
        return self._chain

    @property
    def algorithm(self) -> SignatureAlgorithm:
        """The SignatureMethod matching the key."""
        return self._algorithm

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` on the token; ECDSA signatures come back as XMLDSig r||s."""
        if self._session is None:
            raise Pkcs11Error(
                "sign() after close()", reason=N_("the session with the token is closed")
            )
        payload = data
        if self._plan.prehash:
            digest = hashes.Hash(self._algorithm.hash())
            digest.update(data)
            payload = digest.finalize()
            if self._plan.mechanism == Mechanism.RSA_PKCS:
                payload = _DIGEST_INFO_PREFIXES[self._algorithm.hash().name] + payload
        with _translated(self._token_label):
            signature = self._key.sign(
                payload, mechanism=self._plan.mechanism, pin=self._signing_pin
            )
        public_key = self._certificate.public_key()
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            expected = 2 * ((public_key.curve.key_size + 7) // 8)
            if len(signature) != expected:
                raise Pkcs11Error(
                    f"ECDSA signature of {len(signature)} bytes, expected {expected}",
                    reason=N_("the token returned an ECDSA signature of an unexpected length"),
                )
        return signature

    def close(self) -> None:
        """End the session with the token (logging out); safe to call twice."""
        session, self._session = self._session, None
        if session is not None:
            # The token may be gone already (pulled out); then nothing is left to release.
            with contextlib.suppress(p11.PKCS11Error):
                session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def open_pkcs11_signer(
    module: str,
    token_label: str,
    key_label: str,
    pin: str | None,
    *,
    certificate: x509.Certificate | None = None,
) -> Pkcs11Signer:
    """Log in to the token and return a signer for its private key labelled ``key_label``.

    ``pin`` None means: use the reader's PIN pad if it has one, else no login. ``certificate``
    replaces the certificate on the token (for tokens that hold none).
    """
    library = _load_module(module)
    token = _find_token(library, token_label)
    session = _log_in(token, pin)
    try:
        with _translated(token.label):
            return _signer_in_session(session, token.label, key_label.strip(), pin, certificate)
    except BaseException:
        with contextlib.suppress(p11.PKCS11Error):
            session.close()
        raise


# --- module, token, login --------------------------------------------------------------------


def _load_module(module: str) -> Library:
    try:
        return pkcs11.lib(module)
    except p11.PKCS11Error as exc:
        looks_like_path = os.sep in module or "/" in module
        reason = (
            N_("the file does not exist")
            if looks_like_path and not Path(module).exists()
            else N_("it is not a PKCS#11 library that this computer can load")
        )
        raise Pkcs11ModuleError(f"{module}: {exc}", module=module, reason=reason) from exc


def _find_token(library: Library, token_label: str) -> pkcs11.Token:
    wanted = token_label.strip()
    with _translated(wanted):
        # A slot without an initialised token (SoftHSM's spare slot, an empty reader) has no label.
        tokens = [t for t in library.get_tokens() if t.flags & TokenFlag.TOKEN_INITIALIZED]
    matching = [t for t in tokens if t.label == wanted]
    if len(matching) == 1:
        return matching[0]
    reason = (
        N_("no connected token has this label")
        if not matching
        else N_("several tokens have this label")
    )
    raise Pkcs11TokenError(
        f"token label {wanted!r} among {[t.label for t in tokens]}",
        label=wanted,
        present=_listing(t.label for t in tokens),
        reason=reason,
    )


def _log_in(token: pkcs11.Token, pin: str | None) -> pkcs11.Session:
    label = token.label
    with _translated(label):
        flags = token.flags
    if flags & TokenFlag.USER_PIN_LOCKED:
        # Trying a PIN on a locked token can only fail; say so without spending an attempt.
        raise Pkcs11PinLockedError(
            "USER_PIN_LOCKED flag set", token=label, reason=N_("the PIN is locked")
        )
    user_pin: str | object | None = pin
    if pin is None:
        if flags & TokenFlag.PROTECTED_AUTHENTICATION_PATH:
            user_pin = pkcs11.PROTECTED_AUTH
        elif flags & TokenFlag.LOGIN_REQUIRED:
            raise Pkcs11PinError("no PIN given", token=label, reason=N_("no PIN was given"))
    try:
        return token.open(user_pin=user_pin)
    except p11.PKCS11Error as exc:
        # python-pkcs11 0.10 leaves the session it opened for a failed login open. It is not
        # logged in and holds nothing, and python-pkcs11 gives no handle to close it by.
        error = _failure(exc, label)
        if isinstance(exc, p11.PinIncorrect) and _on_final_try(token):
            error = Pkcs11PinError(
                str(exc),
                token=label,
                reason=N_("the PIN is wrong, and one more wrong attempt locks the token"),
            )
        raise error from exc


def _on_final_try(token: pkcs11.Token) -> bool:
    try:
        return bool(token.flags & TokenFlag.USER_PIN_FINAL_TRY)
    except p11.PKCS11Error:
        return False  # only a warning is lost


# --- key, certificate, chain -----------------------------------------------------------------


@dataclass(frozen=True)
class _TokenCertificate:
    """A certificate object on the token (``certificate`` None when it is not readable X.509)."""

    id: bytes
    label: str
    certificate: x509.Certificate | None


def _signer_in_session(
    session: pkcs11.Session,
    token_label: str,
    key_label: str,
    pin: str | None,
    certificate: x509.Certificate | None,
) -> Pkcs11Signer:
    key = _find_private_key(session, token_label, key_label)
    key_id = _bytes_attribute(key, Attribute.ID)
    on_token = _token_certificates(session)
    signer_certificate = certificate or _certificate_for(key_id, key_label, on_token, token_label)
    mismatch = _mismatch(session, key, key_id, signer_certificate.public_key())
    if mismatch:
        raise Pkcs11CertificateMismatchError(
            mismatch,
            subject=_display_name(signer_certificate),
            label=key_label,
            reason=mismatch,
        )
    chain = _chain(signer_certificate, [c.certificate for c in on_token if c.certificate])
    try:
        mechanisms: frozenset[Mechanism] | None = frozenset(session.token.slot.get_mechanisms())
    except p11.PKCS11Error:
        mechanisms = None  # some modules cannot list them; _plan then takes the common choice
    always_authenticate = _attribute(key, Attribute.ALWAYS_AUTHENTICATE) is True
    return Pkcs11Signer(
        session=session,
        key=key,
        token_label=token_label,
        certificate=signer_certificate,
        chain=chain,
        plan=_plan(default_algorithm(signer_certificate), mechanisms),
        signing_pin=pin if always_authenticate else None,
    )


def _find_private_key(
    session: pkcs11.Session, token_label: str, key_label: str
) -> pkcs11.SignMixin:
    found = list(
        session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: key_label})
    )
    if len(found) != 1:
        reason = (
            N_("no private key has this label")
            if not found
            else N_("several private keys have this label")
        )
    elif not isinstance(key := found[0], pkcs11.SignMixin):
        reason = N_("the token does not allow this key to sign")
    elif _attribute(key, Attribute.KEY_TYPE) not in {KeyType.RSA, KeyType.EC}:
        reason = N_("it is neither an RSA nor an EC key")
    else:
        return key
    everything = session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})
    labels = [label for obj in everything if (label := _text_attribute(obj, Attribute.LABEL))]
    raise Pkcs11KeyError(
        f"key label {key_label!r} on {token_label!r}: {reason}; present {labels}",
        label=key_label,
        token=token_label,
        present=_listing(labels),
        reason=reason,
    )


def _token_certificates(session: pkcs11.Session) -> list[_TokenCertificate]:
    found = []
    template = {
        Attribute.CLASS: ObjectClass.CERTIFICATE,
        Attribute.CERTIFICATE_TYPE: pkcs11.CertificateType.X_509,
    }
    for obj in session.get_objects(template):
        value = _bytes_attribute(obj, Attribute.VALUE)
        parsed = None
        if value:
            with contextlib.suppress(ValueError):
                parsed = x509.load_der_x509_certificate(value)
        found.append(
            _TokenCertificate(
                id=_bytes_attribute(obj, Attribute.ID),
                label=_text_attribute(obj, Attribute.LABEL),
                certificate=parsed,
            )
        )
    return found


def _certificate_for(
    key_id: bytes, key_label: str, on_token: list[_TokenCertificate], token_label: str
) -> x509.Certificate:
    # CKA_ID is what ties a key to its certificate (PKCS#11 v2.40 §4.6.3); the label is the
    # fallback for tokens filled by tools that set no ID.
    matching = [c for c in on_token if key_id and c.id == key_id] or [
        c for c in on_token if c.label == key_label
    ]
    readable = [c.certificate for c in matching if c.certificate]
    if readable:
        # A renewed certificate for the same key shares its ID: take the one valid longest.
        return max(readable, key=lambda c: c.not_valid_after_utc)
    reason = (
        N_("the certificate object on the token is not a readable X.509 certificate")
        if matching
        else N_("the token holds no certificate with the key's ID or label")
    )
    raise Pkcs11CertificateError(
        f"key {key_label!r} id {key_id.hex()}: {reason}",
        label=key_label,
        token=token_label,
        reason=reason,
    )


def _mismatch(
    session: pkcs11.Session,
    key: pkcs11.SignMixin,
    key_id: bytes,
    public_key: CertificatePublicKeyTypes,
) -> str | None:
    """Why the certificate does not fit the key on the token; None when it fits or can't be told."""
    if _attribute(key, Attribute.KEY_TYPE) == KeyType.RSA:
        if not isinstance(public_key, rsa.RSAPublicKey):
            return N_("the key on the token is an RSA key, the certificate's key is not")
        return _rsa_mismatch(key, public_key)
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        return N_("the key on the token is an EC key, the certificate's key is not")
    return _ec_mismatch(session, key, key_id, public_key)


def _rsa_mismatch(key: pkcs11.SignMixin, public_key: rsa.RSAPublicKey) -> str | None:
    modulus = _bytes_attribute(key, Attribute.MODULUS)
    exponent = _bytes_attribute(key, Attribute.PUBLIC_EXPONENT)
    numbers = public_key.public_numbers()
    if modulus and exponent and (_int(modulus), _int(exponent)) != (numbers.n, numbers.e):
        return N_("the RSA public keys differ")
    return None


def _ec_mismatch(
    session: pkcs11.Session,
    key: pkcs11.SignMixin,
    key_id: bytes,
    public_key: ec.EllipticCurvePublicKey,
) -> str | None:
    params = _bytes_attribute(key, Attribute.EC_PARAMS)
    # Compare only a named curve (an OID, tag 0x06); explicit parameters can't be told apart here.
    if params[:1] == b"\x06":
        try:
            expected = encode_named_curve_parameters(public_key.curve.name)
        except (ValueError, KeyError):
            expected = params  # a curve asn1crypto has no name for: not comparable, let it pass
        if params != expected:
            return N_("the keys are on different elliptic curves")
    point = _ec_point(session, key, key_id)
    raw = public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    # CKA_EC_POINT is a DER OCTET STRING (§2.3.3), but some tokens store the bare point.
    if point and point not in {raw, _der_octet_string(raw)}:
        return N_("the EC public keys differ")
    return None


def _ec_point(session: pkcs11.Session, key: pkcs11.SignMixin, key_id: bytes) -> bytes:
    """The key's public point: some tokens put it on the private key, most on the public key."""
    point = _bytes_attribute(key, Attribute.EC_POINT)
    if point or not key_id:
        return point
    template = {Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.ID: key_id}
    for public in session.get_objects(template):
        return _bytes_attribute(public, Attribute.EC_POINT)
    return b""


def _chain(
    certificate: x509.Certificate, candidates: list[x509.Certificate]
) -> tuple[x509.Certificate, ...]:
    """The intermediates above ``certificate`` among ``candidates``, nearest first."""
    chain: list[x509.Certificate] = []
    current = certificate
    for _ in range(_MAX_CHAIN):
        issuer = next((c for c in candidates if _issued(current, by=c)), None)
        # Stop below a self-signed root: it is the verifier's trust anchor, not KeyInfo material.
        if issuer is None or issuer.subject == issuer.issuer or issuer in chain:
            break
        chain.append(issuer)
        current = issuer
    return tuple(chain)


def _issued(certificate: x509.Certificate, *, by: x509.Certificate) -> bool:
    if certificate.issuer != by.subject or certificate == by:
        return False
    try:
        certificate.verify_directly_issued_by(by)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


# --- small helpers ---------------------------------------------------------------------------


@contextlib.contextmanager
def _translated(token_label: str) -> Iterator[None]:
    """Turn python-pkcs11's exceptions raised inside the block into our errors."""
    try:
        yield
    except p11.PKCS11Error as exc:
        raise _failure(exc, token_label) from exc
    except UnicodeDecodeError as exc:
        # python-pkcs11 decodes labels as UTF-8; a token written by another tool may not be.
        raise Pkcs11Error(
            str(exc), reason=N_("the token holds a label that is not UTF-8 text")
        ) from exc


def _failure(exc: p11.PKCS11Error, token_label: str) -> Pkcs11Error:
    error, reason = next(
        (
            (kind_error, Message(text))
            for kind, (kind_error, text) in _FAILURES.items()
            if isinstance(exc, kind)
        ),
        (Pkcs11Error, Message(N_("the token reported {error}"), {"error": type(exc).__name__})),
    )
    return error(f"{type(exc).__name__}: {exc}", token=token_label, reason=reason)


def _attribute(obj: pkcs11.Object, attribute: Attribute) -> object:
    """The attribute's value, or None when the token does not have or show it."""
    try:
        return obj[attribute]
    except (p11.AttributeTypeInvalid, p11.AttributeSensitive):
        return None


def _bytes_attribute(obj: pkcs11.Object, attribute: Attribute) -> bytes:
    value = _attribute(obj, attribute)
    return value if isinstance(value, bytes) else b""


def _text_attribute(obj: pkcs11.Object, attribute: Attribute) -> str:
    value = _attribute(obj, attribute)
    return value if isinstance(value, str) else ""


def _int(big_endian: bytes) -> int:
    return int.from_bytes(big_endian, "big")


def _der_octet_string(content: bytes) -> bytes:
    # EC points are at most 133 bytes (P-521), so one length octet after 0x81 always suffices.
    length = bytes([len(content)]) if len(content) < 0x80 else bytes([0x81, len(content)])  # noqa: PLR2004
    return b"\x04" + length + content


def _display_name(certificate: x509.Certificate) -> str:
    """The certificate's common name (the server name for UZI server certificates), else its DN."""
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else certificate.subject.rfc4514_string()


def _listing(labels: Iterable[str]) -> str | Message:
    """Labels for a message: quoted, sorted, without repeats; "none" when there are none."""
    unique = sorted(set(labels))
    return ", ".join(f'"{label}"' for label in unique) if unique else Message(N_("none"))
