"""Signed checkpoints of the audit log's head: signing, reading back, and every bad file refused."""

from __future__ import annotations

import base64
import json
import time
from typing import TYPE_CHECKING, Any

import pytest
import structlog

from tests.support.clock import START, ManualClock
from tests.support.identity import STORY, write_story
from tests.support.server import start_live
from zorgid.audit.checkpoints import (
    FORMAT,
    MAX_BYTES,
    Checkpoint,
    CheckpointKey,
    CheckpointSigner,
    file_name,
    read_directory,
)
from zorgid.audit.errors import CheckpointDirectoryError, CheckpointInvalidError
from zorgid.audit.log import verify_chain
from zorgid.bootstrap import build
from zorgid.settings import Settings

if TYPE_CHECKING:
    from pathlib import Path

    from zorgid.bootstrap import Container

SIGNER = CheckpointSigner(bytes(range(32)))
OTHER = CheckpointSigner(b"\x07" * 32)
HASH = "ab" * 32


def _file(signer: CheckpointSigner = SIGNER, seq: int = 7, head_hash: str = HASH) -> bytes:
    return signer.sign(seq, head_hash, START)[1]


def _fields(data: bytes) -> dict[str, Any]:
    fields: dict[str, Any] = json.loads(data)
    return fields


def _refusal(data: bytes, key: CheckpointKey = SIGNER.public) -> str:
    with pytest.raises(CheckpointInvalidError) as caught:
        key.read(data, name="checkpoint-x.json")
    assert caught.value.params["checkpoint"] == "checkpoint-x.json"
    return caught.value.public_message("en")


def test_a_signed_checkpoint_reads_back_as_it_was_signed() -> None:
    written, data = SIGNER.sign(7, HASH, START)

    read = SIGNER.public.read(data, name=written.name)

    assert read == written
    assert (read.seq, read.hash, read.at, read.key) == (7, HASH, START, SIGNER.public.key_id)
    assert written.name == file_name(7, HASH) == f"checkpoint-000000000007-{HASH[:16]}.json"
    assert _fields(data)["format"] == FORMAT


def test_the_public_key_travels_as_pem() -> None:
    public = CheckpointKey.from_pem(SIGNER.public.pem())

    assert public.key_id == SIGNER.public.key_id
    assert public.read(_file(), name="c").seq == 7


@pytest.mark.parametrize(
    ("field", "value"),
    [("seq", 6), ("seq", 8), ("hash", "cd" * 32), ("at", "2026-05-01T13:00:00+00:00")],
)
def test_an_altered_field_breaks_the_signature(field: str, value: object) -> None:
    fields = _fields(_file())
    fields[field] = value

    message = _refusal(json.dumps(fields).encode())

    assert "its signature does not hold" in message


def test_a_checkpoint_signed_with_another_key_is_refused() -> None:
    assert "names another checkpoint key" in _refusal(_file(OTHER))


def test_a_forgery_under_our_key_id_is_refused() -> None:
    fields = _fields(_file(OTHER, seq=99))
    fields["key"] = SIGNER.public.key_id

    assert "its signature does not hold" in _refusal(json.dumps(fields).encode())


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xfe not text",
        b"not json",
        b"[1, 2]",
        b"null",
        b'{"seq": 7}',
        b" " * (MAX_BYTES + 1),
    ],
)
def test_a_file_that_is_no_checkpoint_is_refused(data: bytes) -> None:
    message = _refusal(data)

    assert "cannot be trusted" in message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seq", True),
        ("seq", "7"),
        ("seq", 0),
        ("seq", -1),
        ("hash", "AB" * 32),
        ("hash", "ab"),
        ("hash", None),
        ("signature", "***"),
        ("signature", 5),
        ("format", "zorgid-audit-checkpoint/2"),
        ("extra", 1),
    ],
)
def test_a_malformed_field_is_refused(field: str, value: object) -> None:
    fields = _fields(_file())
    fields[field] = value

    assert "cannot be trusted" in _refusal(json.dumps(fields).encode())


def test_a_field_given_twice_is_refused() -> None:
    text = _file().decode().rstrip().rstrip("}") + ', "seq": 8}'

    assert "not JSON" in _refusal(text.encode())


def test_a_directory_is_read_in_order_and_other_files_are_left_alone(tmp_path: Path) -> None:
    for seq in (12, 3):
        checkpoint, data = SIGNER.sign(seq, HASH, START)
        (tmp_path / checkpoint.name).write_bytes(data)
    (tmp_path / "README.txt").write_text("published checkpoints")

    found = read_directory(tmp_path, SIGNER.public)

    assert [c.seq for c in found] == [3, 12]


def test_an_unreadable_checkpoint_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "checkpoint-broken.json").mkdir()

    with pytest.raises(CheckpointInvalidError) as caught:
        read_directory(tmp_path, SIGNER.public)

    assert "checkpoint-broken.json" in caught.value.public_message("nl")


def test_a_missing_directory_is_its_own_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointDirectoryError):
        read_directory(tmp_path / "nowhere", SIGNER.public)


# -- the service's checkpoints, on both databases -------------------------------------------------


def test_the_service_writes_a_checkpoint_only_when_the_head_moved(
    container: Container, tmp_path: Path
) -> None:
    directory = tmp_path / "published"
    container.settings = container.settings.replace(audit_checkpoint_dir=directory)
    assert container.publish_checkpoint() is None  # an empty log: nothing to say
    write_story(container)

    first = container.publish_checkpoint()
    again = container.publish_checkpoint()
    with container.unit_of_work() as session:
        container.audit(session).record("test.more", actor="cli", subject="x", source="cli")
    second = container.publish_checkpoint()

    assert first is not None
    assert again is None
    assert second is not None
    assert (first.seq, second.seq) == (len(STORY), len(STORY) + 1)
    found = read_directory(directory, container.keys.checkpoint.public)
    assert [(c.seq, c.hash) for c in found] == [(first.seq, first.hash), (second.seq, second.hash)]
    with container.reading() as session:
        assert verify_chain(session, container.keys.audit, found).checkpoints == 2


def test_without_a_directory_the_service_writes_none(container: Container) -> None:
    write_story(container)

    assert container.settings.audit_checkpoint_dir is None
    assert container.publish_checkpoint() is None


def test_the_running_service_publishes_a_checkpoint_to_its_directory_and_its_log(
    tmp_path: Path, database_url: str
) -> None:
    directory = tmp_path / "published"
    clock = ManualClock()
    settings: dict[str, object] = {"audit_checkpoint_dir": directory}
    writer = build(
        Settings(data_dir=tmp_path, database_url=database_url), clock=clock, create_keys=True
    )
    try:
        write_story(writer)
    finally:
        writer.close()
    with structlog.testing.capture_logs() as logs:
        for live in start_live(tmp_path, database_url, clock, **settings):
            found = _wait_for_checkpoint(directory, live.container)
            assert [c.seq for c in found] == [len(STORY)]
    lines = [line for line in logs if line["event"] == "audit_checkpoint"]
    assert len(lines) == 1
    line = lines[0]
    assert (line["seq"], line["hash"], line["file"]) == (found[0].seq, found[0].hash, found[0].name)
    # The log line is the checkpoint itself: it reads back as a signed file would.
    fields = {k: line[k] for k in ("at", "format", "hash", "key", "seq", "signature")}
    public = CheckpointKey.from_pem((tmp_path / "keys" / "checkpoint.pub").read_bytes())
    assert public.read(json.dumps(fields).encode(), name="log").seq == len(STORY)
    assert base64.b64decode(line["signature"])


def _wait_for_checkpoint(directory: Path, container: Container) -> list[Checkpoint]:
    # The service writes it from a task it starts with itself; wait for it as for the server.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if directory.is_dir() and any(directory.glob("checkpoint-*")):
            return read_directory(directory, container.keys.checkpoint.public)
        time.sleep(0.01)
    pytest.fail("the service wrote no checkpoint")
