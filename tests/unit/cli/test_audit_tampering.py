"""An attacker who can write the database rewrites or cuts the audit log; verify finds it.

The attacker knows how links are made (they are documented) but has neither ``audit.key`` nor
``checkpoint.key``. Without the audit key they cannot compute the links of a rewritten chain;
cutting the newest events and moving the head back leaves a shorter chain that holds, which only
a checkpoint published before the cut reveals (``--checkpoints``). Someone who also has the key
directory can rewrite the chain: a checkpoint published before still shows where.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import shutil
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from tests.support.identity import STORY, write_story
from zorgid.audit.checkpoints import CheckpointSigner
from zorgid.audit.log import event_hash
from zorgid.audit.models import AuditEvent, AuditHead
from zorgid.bootstrap import load_keys
from zorgid.cli.main import cli

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from zorgid.bootstrap import Container

GENESIS = "0" * 64
EVENTS = len(STORY) + 10
EDITED = 5


def _zorgid(database_url: str, *args: str) -> Result:
    return CliRunner().invoke(
        cli,
        ["audit", *args],
        env={"ZORGID_DATABASE_URL": database_url, "LANG": "nl_NL.UTF-8"},
        catch_exceptions=False,
    )


@pytest.fixture(autouse=True)
def key_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's key directory (the container's too), in ZORGID_KEY_DIR; data in tmp_path."""
    load_keys(tmp_path / "keys", create=True)
    monkeypatch.setenv("ZORGID_KEY_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("ZORGID_DATA_DIR", str(tmp_path))
    return tmp_path / "keys"


@pytest.fixture
def story(container: Container) -> Container:
    """The story's events and ten more, written by the service."""
    write_story(container)
    for number in range(10):
        with container.unit_of_work() as session:
            container.audit(session).record(
                "device.revoked", actor="cli", subject=f"device:{number}", source="cli"
            )
    return container


@pytest.fixture
def published(tmp_path: Path) -> Path:
    """Where checkpoints are published (another host, in real life)."""
    return tmp_path / "published"


def _checkpoint(database_url: str, directory: Path) -> None:
    result = _zorgid(database_url, "checkpoint", "--to", str(directory), "--lang", "en")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Checkpoint written: event ")


def _checkpoint_file(directory: Path) -> Path:
    (found,) = directory.glob("checkpoint-*.json")
    return found


def _sha256_link(prev: str, event: AuditEvent) -> str:
    """A link as zorgid made it before the audit key, computed as the attacker reads the docs."""
    body = {
        "seq": event.seq,
        "at": event.at.isoformat(),
        "action": event.action,
        "actor": event.actor,
        "subject": event.subject,
        "source": event.source,
        "details": event.details,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{prev}\n{canonical}".encode()).hexdigest()


def _guessed_key_link(prev: str, event: AuditEvent) -> str:
    """The documented HMAC, under the key the attacker does not have: a guess."""
    body = {
        "seq": event.seq,
        "at": event.at.isoformat(),
        "action": event.action,
        "actor": event.actor,
        "subject": event.subject,
        "source": event.source,
        "details": event.details,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    message = f"{prev}\n{canonical}".encode()
    return hmac.new(secrets.token_bytes(32), message, hashlib.sha256).hexdigest()


def _rewrite(container: Container, link: Callable[[str, AuditEvent], str], start: int) -> None:
    """Edit event ``start`` (it now grants an operator role) and relink it and all after it."""
    with container.unit_of_work() as session:
        prev = GENESIS
        for event in session.scalars(select(AuditEvent).order_by(AuditEvent.seq)):
            if event.seq == start:
                event.details = {"role": "operator", "ura": "99999999"}
            if event.seq >= start:
                event.prev_hash = prev
                event.hash = link(prev, event)
            prev = event.hash
        head = session.get(AuditHead, 1)
        assert head is not None
        head.hash = prev


def _cut(container: Container, removed: int) -> None:
    """Delete the newest ``removed`` events and move the head back to the one before them."""
    with container.unit_of_work() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        for event in events[-removed:]:
            session.delete(event)
        last = events[-removed - 1]
        head = session.get(AuditHead, 1)
        assert head is not None
        head.seq, head.hash = last.seq, last.hash


def test_an_edited_event_with_recomputed_sha256_links_and_head_is_found(
    story: Container, database_url: str
) -> None:
    # The attack of the review: plain SHA-256 links recomputed from the edit to the head.
    _rewrite(story, _sha256_link, EDITED)

    result = _zorgid(database_url, "verify", "--lang", "en")

    assert result.exit_code == 1, result.output
    assert f"NOT intact from event {EDITED} on" in result.stderr
    assert "computed without the audit key" in result.stderr


def test_an_edited_event_relinked_under_a_guessed_key_is_found_where_it_was_edited(
    story: Container, database_url: str
) -> None:
    _rewrite(story, _guessed_key_link, EDITED)

    result = _zorgid(database_url, "verify", "--lang", "en")

    assert result.exit_code == 1
    assert f"NOT intact from event {EDITED} on: the event was changed" in result.stderr


def test_the_newest_five_events_cut_with_the_head_moved_back_are_found_by_a_checkpoint(
    story: Container, database_url: str, published: Path
) -> None:
    _checkpoint(database_url, published)
    _cut(story, 5)

    alone = _zorgid(database_url, "verify", "--lang", "en")
    held = _zorgid(database_url, "verify", "--checkpoints", str(published), "--lang", "en")
    dutch = _zorgid(database_url, "verify", "--checkpoints", str(published))

    # The shorter chain holds by itself (the limit the checkpoints are for) ...
    assert alone.exit_code == 0
    assert alone.stdout == f"Audit log intact: {EVENTS - 5} events.\n"
    # ... but not against the checkpoint of the head before the cut: it says where.
    name = _checkpoint_file(published).name
    assert held.exit_code == 1
    assert held.stderr == (
        f"Error [audit_chain_broken]: The audit log is NOT intact from event {EVENTS - 4} on: "
        f"the log ends at event {EVENTS - 5}, but checkpoint {name} saw it up to event {EVENTS}: "
        "events at the end were removed. Events from there on may have been changed, removed or "
        "added; compare them with a backup and investigate.\n"
    )
    assert dutch.exit_code == 1
    assert f"NIET ongeschonden vanaf gebeurtenis {EVENTS - 4}" in dutch.stderr
    assert name in dutch.stderr


def test_a_rewrite_with_the_audit_key_is_found_by_an_earlier_checkpoint(
    story: Container, database_url: str, published: Path
) -> None:
    # Someone with the key directory can relink the chain; a checkpoint published before shows it.
    _checkpoint(database_url, published)
    key = story.keys.audit
    _rewrite(story, lambda prev, event: event_hash(key, prev, event), EDITED)

    alone = _zorgid(database_url, "verify", "--lang", "en")
    held = _zorgid(database_url, "verify", "--checkpoints", str(published), "--json")

    assert alone.exit_code == 0
    assert held.exit_code == 1
    report = json.loads(held.stdout)
    assert report["code"] == "audit_chain_broken"
    assert report["first_broken"] == EVENTS
    assert report["reason"] == (
        f"the event differs from checkpoint {_checkpoint_file(published).name}: the log was "
        "rewritten at or before this event"
    )


def test_an_intact_log_holds_against_its_checkpoints(
    story: Container, database_url: str, published: Path
) -> None:
    _checkpoint(database_url, published)
    with story.unit_of_work() as session:
        story.audit(session).record("device.revoked", actor="cli", subject="d", source="cli")
    _checkpoint(database_url, published)

    result = _zorgid(database_url, "verify", "--checkpoints", str(published), "--lang", "en")
    as_json = _zorgid(database_url, "verify", "--checkpoints", str(published), "--json")

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"Audit log intact: {EVENTS + 1} events, held against 2 checkpoints.\n"
    )
    report = json.loads(as_json.stdout)
    assert (report["intact"], report["events"], report["checkpoints"]) == (True, EVENTS + 1, 2)


def test_events_after_the_latest_checkpoint_are_not_covered_by_it(
    story: Container, database_url: str, published: Path
) -> None:
    # Stated in docs/operations.md: a cut above the latest checkpoint passes.
    _checkpoint(database_url, published)
    for _ in range(3):
        with story.unit_of_work() as session:
            story.audit(session).record("device.revoked", actor="cli", subject="d", source="cli")
    _cut(story, 3)

    result = _zorgid(database_url, "verify", "--checkpoints", str(published), "--lang", "en")

    assert result.exit_code == 0


def test_an_altered_checkpoint_is_reported_by_name(
    story: Container, database_url: str, published: Path
) -> None:
    _checkpoint(database_url, published)
    _cut(story, 5)
    path = _checkpoint_file(published)
    fields = json.loads(path.read_bytes())
    fields["seq"] = EVENTS - 5  # hide the cut
    path.write_text(json.dumps(fields))

    result = _zorgid(database_url, "verify", "--checkpoints", str(published), "--lang", "en")
    as_json = _zorgid(database_url, "verify", "--checkpoints", str(published), "--json")

    assert result.exit_code == 1
    assert "[audit_checkpoint_invalid]" in result.stderr
    assert f"The checkpoint {path.name} cannot be trusted: its signature does not hold" in (
        result.stderr
    )
    report = json.loads(as_json.stdout)
    assert (report["code"], report["intact"]) == ("audit_checkpoint_invalid", False)
    assert "Traceback" not in result.output + as_json.output


def test_a_checkpoint_forged_with_another_key_is_reported(
    story: Container, database_url: str, published: Path
) -> None:
    _cut(story, 5)
    forger = CheckpointSigner(secrets.token_bytes(32))
    with story.reading() as session:
        head = session.get(AuditHead, 1)
        assert head is not None
        forged, data = forger.sign(head.seq, head.hash, story.clock.now())
    published.mkdir()
    (published / forged.name).write_bytes(data)

    result = _zorgid(database_url, "verify", "--checkpoints", str(published), "--lang", "en")

    assert result.exit_code == 1
    assert f"The checkpoint {forged.name} cannot be trusted: it names another checkpoint key" in (
        result.stderr
    )


@pytest.mark.usefixtures("story")
@pytest.mark.parametrize("garbage", [b"", b"\x00\xff\xfe" * 100, b"{not json", b"[]"])
def test_garbage_in_a_checkpoint_file_is_reported(
    database_url: str, published: Path, garbage: bytes
) -> None:
    _checkpoint(database_url, published)
    (published / "checkpoint-zzz.json").write_bytes(garbage)

    result = _zorgid(database_url, "verify", "--checkpoints", str(published), "--lang", "en")

    assert result.exit_code == 1
    assert "The checkpoint checkpoint-zzz.json cannot be trusted: the file is not a checkpoint" in (
        result.stderr
    )
    assert "Traceback" not in result.output


@pytest.mark.usefixtures("story")
def test_a_missing_checkpoint_directory_exits_2(database_url: str, tmp_path: Path) -> None:
    result = _zorgid(database_url, "verify", "--checkpoints", str(tmp_path / "no"), "--json")

    assert result.exit_code == 2
    assert json.loads(result.stdout)["code"] == "audit_checkpoints_unreadable"


def test_an_auditor_needs_only_the_audit_key_and_the_public_checkpoint_key(
    story: Container, database_url: str, published: Path, key_dir: Path, tmp_path: Path
) -> None:
    _checkpoint(database_url, published)
    auditor = tmp_path / "auditor"
    auditor.mkdir()
    for name in ("audit.key", "checkpoint.pub"):
        shutil.copy(key_dir / name, auditor / name)

    args = ("verify", "--key-dir", str(auditor), "--checkpoints", str(published), "--lang", "en")
    result = _zorgid(database_url, *args)

    assert result.exit_code == 0, result.output
    assert result.stdout == f"Audit log intact: {EVENTS} events, held against 1 checkpoints.\n"
    assert sorted(p.name for p in auditor.iterdir()) == ["audit.key", "checkpoint.pub"]
    assert story.keys.checkpoint.public.pem() == (key_dir / "checkpoint.pub").read_bytes()


def test_a_log_written_before_the_audit_key_is_refused_plainly(
    story: Container, database_url: str
) -> None:
    _rewrite(story, _sha256_link, 1)

    result = _zorgid(database_url, "verify", "--lang", "en")

    assert result.exit_code == 1
    assert "NOT intact from event 1 on" in result.stderr
    assert "written by a version of zorgid before the key" in result.stderr


# -- zorgid audit checkpoint -------------------------------------------------------------------


@pytest.mark.usefixtures("story")
def test_a_checkpoint_is_written_once_per_head(database_url: str, published: Path) -> None:
    _checkpoint(database_url, published)
    again = _zorgid(database_url, "checkpoint", "--to", str(published), "--json")

    assert again.exit_code == 0
    report = json.loads(again.stdout)
    assert (report["written"], report["seq"]) == (False, EVENTS)
    assert report["path"] == str(_checkpoint_file(published))


@pytest.mark.usefixtures("container")
def test_an_empty_log_gets_no_checkpoint(database_url: str, published: Path) -> None:
    result = _zorgid(database_url, "checkpoint", "--to", str(published), "--lang", "en")

    assert result.exit_code == 0
    assert result.stdout == "The audit log is empty: there is nothing to checkpoint.\n"
    assert not published.exists()


@pytest.mark.usefixtures("story")
def test_a_checkpoint_needs_a_directory(database_url: str) -> None:
    result = _zorgid(database_url, "checkpoint", "--lang", "en")

    assert result.exit_code == 2
    assert "[audit_checkpoint_dir_missing]" in result.stderr
    assert "ZORGID_AUDIT_CHECKPOINT_DIR" in result.stderr


@pytest.mark.usefixtures("story")
def test_the_checkpoint_directory_comes_from_the_setting(
    database_url: str, published: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZORGID_AUDIT_CHECKPOINT_DIR", str(published))

    result = _zorgid(database_url, "checkpoint", "--lang", "en")

    assert result.exit_code == 0
    assert _checkpoint_file(published).name.startswith(f"checkpoint-{EVENTS:012d}-")


@pytest.mark.usefixtures("story")
def test_an_unwritable_checkpoint_directory_exits_2(database_url: str, tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")

    result = _zorgid(database_url, "checkpoint", "--to", str(blocked / "sub"), "--json")

    assert result.exit_code == 2
    assert json.loads(result.stdout)["code"] == "audit_checkpoint_not_written"
