"""Fail when a text a person reads (code or page) lacks Dutch, or the compiled catalogue is stale.

Run by `make i18n-check` (and CI). `make i18n` extracts, merges and compiles after a change.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

if TYPE_CHECKING:
    from babel.messages.catalog import Catalog

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src" / "zorgid"
LOCALES = SOURCE / "locales"
KEYWORDS = {"N_": None, "_": None}


def main() -> int:
    """Check the Dutch catalogue against the source and the compiled file."""
    wanted = {
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            SOURCE,
            method_map=[("**.py", "python"), ("**/templates/**.html", "jinja2")],
            keywords=KEYWORDS,
        )
        if isinstance(message, str)
    }
    po_path = LOCALES / "nl" / "LC_MESSAGES" / "zorgid.po"
    with po_path.open("rb") as handle:
        catalog: Catalog = read_po(handle)
    problems = []
    for msgid in sorted(wanted):
        entry = catalog.get(msgid)
        if entry is None or not entry.string:
            problems.append(f"untranslated: {msgid!r}")
        elif entry.fuzzy:
            problems.append(f"fuzzy: {msgid!r}")
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    mo_path = po_path.with_suffix(".mo")
    if not mo_path.exists() or mo_path.read_bytes() != compiled.getvalue():
        problems.append(f"{mo_path.relative_to(ROOT)} is stale: run `make i18n`")
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(wanted)} messages, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
