"""Set Dutch translations from a JSON object {msgid: msgstr} on standard input (then `make i18n`).

A small aid for adding a few translations without a PO editor; the catalogue stays the source.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

PO = Path(__file__).resolve().parent.parent / "src/zorgid/locales/nl/LC_MESSAGES/zorgid.po"


def main() -> None:
    """Apply the translations given on standard input to the Dutch catalogue."""
    updates: dict[str, str] = json.load(sys.stdin)
    with PO.open("rb") as handle:
        catalog = read_po(handle)
    for msgid, msgstr in updates.items():
        message = catalog.get(msgid)
        if message is None:
            sys.exit(f"not in the catalogue (run `make i18n` first): {msgid!r}")
        message.string = msgstr
        message.flags.discard("fuzzy")
    with PO.open("wb") as handle:
        write_po(handle, catalog, width=100)


if __name__ == "__main__":
    main()
