"""`zorgid demo validatietool`: the guided tour of the validation tool."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def _demo(directory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "zorgid",
            "demo",
            "validatietool",
            "--no-pause",
            "--dir",
            str(directory),
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_the_tour_signs_verifies_and_shows_a_tampered_document_failing(tmp_path: Path) -> None:
    result = _demo(tmp_path / "demo", "--lang", "en")
    assert result.returncode == 0, result.stderr
    for step in ("Step 1", "Step 2", "Step 3", "Step 4", "Step 5", "Step 6", "Done."):
        assert step in result.stdout
    assert "VALID: The organisation document is validly signed." in result.stdout
    assert "NOT VALID [signature_digest_mismatch]" in result.stderr
    assert (tmp_path / "demo" / "organisatiedocument-ondertekend.xml").is_file()
    assert "Traceback" not in result.stderr


def test_the_tour_speaks_dutch_by_default_and_can_run_again(tmp_path: Path) -> None:
    assert _demo(tmp_path / "demo").returncode == 0
    again = _demo(tmp_path / "demo")
    assert again.returncode == 0, again.stderr
    assert "GELDIG: Het organisatiedocument is geldig ondertekend." in again.stdout
    assert "Stap 6" in again.stdout


def test_the_tour_never_empties_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("precious")
    result = _demo(tmp_path)
    assert result.returncode == 2
    assert "directory_not_empty" in result.stderr
    assert (tmp_path / "mine.txt").read_text() == "precious"
