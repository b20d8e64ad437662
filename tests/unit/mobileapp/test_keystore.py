"""The app's home: private files, written atomically, read back defensively."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from zorgid.mobileapp.errors import HomeCorruptError, HomeWriteError
from zorgid.mobileapp.keystore import Activation, Home
from zorgid.mobileapp.models import DeviceStatus, Identity, Membership, Organisation
from zorgid.mobileapp.signing import new_device_key

if TYPE_CHECKING:
    from pathlib import Path

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
IDENTITY = Identity(
    device_id="dev_1234567890abcdefghi",
    service_name="ZORG-ID",
    person_name="Petra de Vries",
    memberships=(
        Membership("administrator", Organisation("90000123", "De Linde")),
        Membership("operator", None),
    ),
    status=DeviceStatus.ACTIVE,
)
ACTIVATION = Activation("https://zorgid.example", IDENTITY, NOW, NOW)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_what_is_saved_is_loaded_back(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    key = new_device_key()
    home.save(ACTIVATION, key)
    assert home.load() == ACTIVATION
    assert home.load_key().private_numbers() == key.private_numbers()


def test_the_key_and_the_activation_are_private_whatever_the_umask(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    old = os.umask(0)
    try:
        home.save(ACTIVATION, new_device_key())
    finally:
        os.umask(old)
    assert mode(home.key_file) == 0o600
    assert mode(home.device_file) == 0o600
    assert mode(home.path) == 0o700


def test_device_json_holds_what_the_brief_lists(tmp_path: Path) -> None:
    home = Home(tmp_path)
    home.save(ACTIVATION, new_device_key())
    content = json.loads(home.device_file.read_text())
    assert content["device_id"] == IDENTITY.device_id
    assert content["service"] == {"name": "ZORG-ID", "url": "https://zorgid.example"}
    assert content["person"] == {"name": "Petra de Vries"}
    assert content["status"] == "active"
    assert content["memberships"][1] == {"role": "operator", "organisation": None}


def test_a_failed_write_leaves_the_old_file_and_no_scraps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = Home(tmp_path)
    home.save(ACTIVATION, new_device_key())
    before = home.device_file.read_bytes()

    def broken_fsync(_: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    changed = Activation("https://zorgid.example", IDENTITY, NOW, NOW + dt.timedelta(hours=1))
    with pytest.raises(HomeWriteError) as caught:
        home.save(changed)
    assert "No space left" in caught.value.public_message("en")
    assert home.device_file.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["device-key.pem", "device.json"]


def test_wiping_removes_key_and_activation(tmp_path: Path) -> None:
    home = Home(tmp_path)
    home.save(ACTIVATION, new_device_key())
    home.wipe()
    assert home.load() is None
    assert not home.key_file.exists()
    home.wipe()  # twice is fine


def test_an_empty_home_is_not_activated(tmp_path: Path) -> None:
    assert Home(tmp_path / "nothing").load() is None


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"[]",
        b'{"version": 2}',
        b'{"version": 1, "service": {"url": "file:///etc"}}',
        json.dumps({"version": 1, "device_id": "../x", "service": {"url": "https://a"}}).encode(),
        b'{"version": 1, ' * 10_000,
        b"[" * 200_000,
    ],
)
def test_a_damaged_device_json_is_reported_not_trusted(tmp_path: Path, content: bytes) -> None:
    home = Home(tmp_path)
    home.device_file.write_bytes(content)
    with pytest.raises(HomeCorruptError) as caught:
        home.load()
    assert caught.value.exit_code == 2


def test_a_key_that_is_not_p256_is_refused(tmp_path: Path) -> None:
    home = Home(tmp_path)
    for key in (rsa.generate_private_key(65537, 2048), ec.generate_private_key(ec.SECP384R1())):
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        home.key_file.write_bytes(pem)
        with pytest.raises(HomeCorruptError):
            home.load_key()


def test_a_missing_key_is_reported(tmp_path: Path) -> None:
    with pytest.raises(HomeCorruptError):
        Home(tmp_path).load_key()
