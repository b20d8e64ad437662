"""`zorgid audit verify`: 0 intact, 1 broken (from which event on), 2 database or key unusable.

The audit key is found in the key directory (here ``ZORGID_KEY_DIR``, the test's keys).
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from tests.support.identity import STORY, write_story
from zorgid.bootstrap import load_keys
from zorgid.cli.main import cli

if TYPE_CHECKING:
    from pathlib import Path

    from zorgid.bootstrap import Container

EVENTS = len(STORY)


def _zorgid(database_url: str, *args: str) -> Result:
    return CliRunner().invoke(
        cli,
        ["audit", "verify", *args],
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
    write_story(container)
    return container


def _delete_event(container: Container, seq: int) -> None:
    with container.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_events WHERE seq = :seq"), {"seq": seq})


@pytest.mark.usefixtures("story")
def test_an_intact_log_is_reported_with_its_number_of_events(database_url: str) -> None:
    result = _zorgid(database_url, "--lang", "en")

    assert result.exit_code == 0, result.output
    assert result.stdout == f"Audit log intact: {EVENTS} events.\n"


@pytest.mark.usefixtures("story")
def test_the_report_speaks_dutch_by_default(database_url: str) -> None:
    result = _zorgid(database_url)

    assert result.exit_code == 0, result.output
    assert result.stdout == f"Auditlog ongeschonden: {EVENTS} gebeurtenissen.\n"


@pytest.mark.usefixtures("story")
def test_an_intact_log_in_json(database_url: str) -> None:
    result = _zorgid(database_url, "--json")

    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["intact"] is True
    assert report["events"] == EVENTS
    assert report["code"] == "audit_intact"


def test_a_deleted_event_is_reported_from_that_event_on(
    story: Container, database_url: str
) -> None:
    _delete_event(story, 3)

    result = _zorgid(database_url, "--lang", "en")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "[audit_chain_broken]" in result.stderr
    assert "NOT intact from event 3 on: the event is missing" in result.stderr


def test_a_changed_event_is_reported_in_json_with_the_reason(
    story: Container, database_url: str
) -> None:
    with story.engine.begin() as connection:
        connection.execute(text("UPDATE audit_events SET actor = 'cli' WHERE seq = 5"))

    result = _zorgid(database_url, "--json")

    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["intact"] is False
    assert report["code"] == "audit_chain_broken"
    assert report["first_broken"] == 5
    assert report["reason"] == "the event was changed after it was written"
    assert "5" in report["message"]


def test_a_removed_last_event_is_reported(story: Container, database_url: str) -> None:
    _delete_event(story, EVENTS)

    result = _zorgid(database_url, "--lang", "en")

    assert result.exit_code == 1
    assert f"from event {EVENTS} on: events at the end were removed" in result.stderr


def test_an_unreachable_database_exits_2() -> None:
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    result = _zorgid("postgresql://postgres@127.0.0.1:1/zorgid", "--json")

    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["code"] == "database_unavailable"
    assert report["intact"] is False
    assert "Traceback" not in result.output


def test_a_missing_sqlite_file_exits_2_and_creates_no_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.sqlite3"

    result = _zorgid(f"sqlite:///{missing}", "--lang", "en")

    assert result.exit_code == 2
    assert "[database_unavailable]" in result.stderr
    assert "does not exist" in result.stderr
    assert not missing.exists()


def test_a_database_without_the_schema_exits_2(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite3"
    sqlite3.connect(empty).close()

    result = _zorgid(f"sqlite:///{empty}", "--lang", "en")

    assert result.exit_code == 2
    assert "[database_not_migrated]" in result.stderr
    assert "zorgid db upgrade" in result.stderr


def test_a_file_that_is_not_a_database_exits_2(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"this is not SQLite " * 100)

    result = _zorgid(f"sqlite:///{garbage}", "--json")

    assert result.exit_code == 2
    assert json.loads(result.stdout)["code"] == "database_unavailable"


def test_an_unusable_database_url_exits_2() -> None:
    result = _zorgid("nonsense://nowhere", "--json")

    assert result.exit_code == 2
    assert json.loads(result.stdout)["code"] == "database_unavailable"


@pytest.mark.usefixtures("story")
def test_a_missing_audit_key_exits_2(database_url: str, key_dir: Path) -> None:
    (key_dir / "audit.key").unlink()

    result = _zorgid(database_url, "--lang", "en")

    assert result.exit_code == 2
    assert "[key_missing]" in result.stderr
    assert "audit.key" in result.stderr


@pytest.mark.usefixtures("story")
def test_another_audit_key_does_not_pass_the_log(database_url: str, tmp_path: Path) -> None:
    other = tmp_path / "other-keys"
    load_keys(other, create=True)

    result = _zorgid(database_url, "--lang", "en", "--key-dir", str(other))

    assert result.exit_code == 1
    assert "NOT intact from event 1 on" in result.stderr
    assert "or the audit key is not the one that wrote the log" in result.stderr
