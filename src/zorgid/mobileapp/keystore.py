"""The app's home directory: its activation (``device.json``) and its key (``device-key.pem``).

Both files are private to the user (mode 0600, in a 0700 directory) and written atomically: a
reader, or the app after a crash, sees the old file or the new one, never half of one. The key is
written before ``device.json``, and ``device.json`` removed before the key, so that whenever
``device.json`` exists its key does too.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from zorgid.core.i18n import N_
from zorgid.mobileapp.errors import HomeCorruptError, HomeWriteError
from zorgid.mobileapp.models import (
    DeviceStatus,
    Identity,
    MalformedError,
    identity_from_json,
    identity_to_json,
    iso,
    moment,
    obj,
)

if TYPE_CHECKING:
    import datetime as dt

DEVICE_FILE = "device.json"
KEY_FILE = "device-key.pem"
FORMAT_VERSION = 1
_MAX_DEVICE_FILE = 1024 * 1024
_MAX_KEY_FILE = 64 * 1024
_PRIVATE = 0o600
_PRIVATE_DIR = 0o700


@dataclass(frozen=True)
class Activation:
    """This app's activation: for which service, and what the service last said."""

    #: ``PUBLIC_URL`` from the activation QR: the only place the app sends its PIN.
    service_url: str
    identity: Identity
    activated_at: dt.datetime
    refreshed_at: dt.datetime

    @property
    def device_id(self) -> str:
        """The service's identifier of this device."""
        return self.identity.device_id

    @property
    def active(self) -> bool:
        """Whether the device may log in, as far as the app last heard."""
        return self.identity.status is DeviceStatus.ACTIVE


class Home:
    """The directory given with ``--home``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def device_file(self) -> Path:
        """``device.json``: the activation and the cached ID."""
        return self.path / DEVICE_FILE

    @property
    def key_file(self) -> Path:
        """``device-key.pem``: the device's P-256 private key."""
        return self.path / KEY_FILE

    def load(self) -> Activation | None:
        """The activation, or None when the app is not activated."""
        data = self._read(self.device_file, _MAX_DEVICE_FILE)
        if data is None:
            return None
        try:
            content = obj(json.loads(data), DEVICE_FILE)
            if content.get("version") != FORMAT_VERSION:
                raise MalformedError("unknown version")
            service = obj(content.get("service"), "service")
            url = service.get("url")
            if not isinstance(url, str) or not url.startswith(("https://", "http://")):
                raise MalformedError("service.url")
            return Activation(
                service_url=url,
                identity=identity_from_json(content, DEVICE_FILE),
                activated_at=moment(content, "activated_at", DEVICE_FILE),
                refreshed_at=moment(content, "refreshed_at", DEVICE_FILE),
            )
        except (ValueError, RecursionError) as exc:  # JSON errors and MalformedError
            raise HomeCorruptError(
                str(exc), path=str(self.device_file), reason=N_("not what the app wrote")
            ) from None

    def load_key(self) -> ec.EllipticCurvePrivateKey:
        """The device key."""
        data = self._read(self.key_file, _MAX_KEY_FILE)
        if data is None:
            raise HomeCorruptError(
                "no key", path=str(self.key_file), reason=N_("the file does not exist")
            )
        try:
            key = load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise HomeCorruptError(
                str(exc), path=str(self.key_file), reason=N_("not a private key")
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise HomeCorruptError(
                type(key).__name__, path=str(self.key_file), reason=N_("not a P-256 key")
            )
        return key

    def save(self, activation: Activation, key: ec.EllipticCurvePrivateKey | None = None) -> None:
        """Write the activation (and a new key first, when given)."""
        self._make_directory()
        if key is not None:
            pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
            self._write(self.key_file, pem)
        self._write(self.device_file, _device_json(activation))

    def wipe(self) -> None:
        """Forget the activation and delete the key (revoked or blocked: activate again)."""
        for path in (self.device_file, self.key_file):
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                raise HomeWriteError(
                    str(exc), path=str(path), reason=exc.strerror or str(exc)
                ) from None
        self._sync_directory()

    def _read(self, path: Path, limit: int) -> bytes | None:
        try:
            with path.open("rb") as handle:
                data = handle.read(limit + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise HomeCorruptError(
                str(exc), path=str(path), reason=exc.strerror or str(exc)
            ) from None
        if len(data) > limit:
            raise HomeCorruptError("too large", path=str(path), reason=N_("the file is too large"))
        return data

    def _make_directory(self) -> None:
        try:
            self.path.mkdir(mode=_PRIVATE_DIR, parents=True, exist_ok=True)
        except OSError as exc:
            raise HomeWriteError(
                str(exc), path=str(self.path), reason=exc.strerror or str(exc)
            ) from None

    def _write(self, path: Path, data: bytes) -> None:
        temporary: str | None = None
        try:
            # mkstemp creates the file 0600 whatever the umask: the key is never readable by
            # others, not even for the moment before a chmod.
            fd, temporary = tempfile.mkstemp(dir=self.path, prefix=f".{path.name}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), _PRIVATE)
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            Path(temporary).replace(path)
            temporary = None
            self._sync_directory()
        except OSError as exc:
            raise HomeWriteError(
                str(exc), path=str(path), reason=exc.strerror or str(exc)
            ) from None
        finally:
            if temporary is not None:
                with contextlib.suppress(OSError):
                    Path(temporary).unlink()

    def _sync_directory(self) -> None:
        # The rename is durable only once the directory itself is on disk.
        with contextlib.suppress(OSError):
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _device_json(activation: Activation) -> bytes:
    content: dict[str, Any] = {"version": FORMAT_VERSION, **identity_to_json(activation.identity)}
    content["service"] = {**content["service"], "url": activation.service_url}
    content["activated_at"] = iso(activation.activated_at)
    content["refreshed_at"] = iso(activation.refreshed_at)
    return (json.dumps(content, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
