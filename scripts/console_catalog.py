"""The console's message catalog against its sources.

    python -m scripts.console_catalog            # msgids without a zh-CN text, and where
    python -m scripts.console_catalog --unused   # zh-CN entries no source uses any more

Every `_()` / `gettext()` / `ngettext()` in entrypoints/console (Python and templates) is a
msgid; its zh-CN text belongs in one of entrypoints/console/locale/zh_CN/LC_MESSAGES/*.po.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from babel.messages.extract import extract_from_dir

from entrypoints.console.i18n import catalog_files, zh_catalog

CONSOLE = Path(__file__).resolve().parents[1] / "entrypoints" / "console"
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"trim_blocks": "True", "lstrip_blocks": "True"}}
PLACEHOLDER = re.compile(r"\{[a-z_]+\}|%\([a-z_]+\)[sd]")


@dataclass(frozen=True)
class Source:
    msgid: str
    file: str
    line: int


def sources() -> Iterator[Source]:
    for file, line, message, _comments, _context in extract_from_dir(
        str(CONSOLE), method_map=METHODS, options_map=OPTIONS
    ):
        for msgid in message if isinstance(message, tuple) else (message,):
            if msgid:
                yield Source(msgid, file, line)


def missing() -> list[Source]:
    """Sources whose msgid has no zh-CN text."""
    catalog = zh_catalog()
    found = []
    for source in sources():
        entry = catalog.get(source.msgid)
        text = entry.string if entry is not None else None
        if isinstance(text, tuple):
            text = text[0] if all(text) else ""
        if not text or (entry is not None and entry.fuzzy):
            found.append(source)
    return found


def mismatched_placeholders() -> list[tuple[str, str]]:
    """(msgid, zh text) pairs whose placeholders differ: a format() would fail or drop one."""
    bad = []
    for entry in zh_catalog():
        if not entry.id or not entry.string:
            continue
        ids = [str(part) for part in _parts(entry.id)]
        texts = [str(part) for part in _parts(entry.string)]
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        for text in texts:
            if set(PLACEHOLDER.findall(text)) != wanted:
                bad.append((ids[0], text))
    return bad


def unused() -> list[str]:
    used = {source.msgid for source in sources()}
    names = [str(_parts(entry.id)[0]) for entry in zh_catalog() if entry.id]
    return [name for name in names if name not in used]


def _parts(value: object) -> list[object]:
    """A catalog entry's id or string as a list (plural entries hold several)."""
    return list(value) if isinstance(value, tuple | list) else [value]


def disagreements() -> list[str]:
    """Msgids two .po files translate differently (the console would show only the first)."""
    seen: dict[str, tuple[str, object]] = {}
    found = []
    for path, catalog in catalog_files():
        for entry in catalog:
            if not entry.id:
                continue
            key = str(_parts(entry.id)[0])
            if key in seen and seen[key][1] != entry.string:
                found.append(f"{key!r}: {seen[key][0]} and {path.name} differ")
            seen.setdefault(key, (path.name, entry.string))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unused", action="store_true", help="list entries no source uses")
    args = parser.parse_args(argv)
    if args.unused:
        names = unused()
        for name in names:
            print(name)
        return 1 if names else 0
    lacking = missing()
    for source in lacking:
        print(f"{source.file}:{source.line}: {source.msgid}")
    differing = disagreements()
    for line in differing:
        print(f"translated differently: {line}")
    return 1 if lacking or differing else 0


if __name__ == "__main__":
    sys.exit(main())
