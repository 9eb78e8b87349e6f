"""The console's two languages: message catalogs, locale choice and local formatting.

Every string a page shows is an English msgid marked with `_()` in a template or a handler;
the zh-CN texts live in `locale/zh_CN/LC_MESSAGES/*.po`, one file per area of the console,
merged into one catalog at start-up (no compiled .mo files in the tree). English is the
msgid itself. `tests/console/test_translations.py` extracts every msgid and fails on one
without a zh-CN text.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations, Translations

ConsoleLocale = Literal["en", "zh-CN"]
LOCALES: tuple[ConsoleLocale, ...] = ("en", "zh-CN")
DEFAULT_LOCALE: ConsoleLocale = "en"
CATALOG_DIR = Path(__file__).parent / "locale" / "zh_CN" / "LC_MESSAGES"
_BABEL = {"en": "en", "zh-CN": "zh_Hans_CN"}


def zh_catalog() -> Catalog:
    """Every zh-CN .po file of the console, merged; where two files hold one msgid, the first
    file (by name) wins (tests/console/test_translations.py insists that they agree)."""
    merged = Catalog(locale="zh_CN", domain="console")
    for _path, part in catalog_files():
        for message in part:
            if message.id and merged.get(message.id) is None:
                merged[message.id] = message
    return merged


def catalog_files() -> list[tuple[Path, Catalog]]:
    """Each zh-CN .po file of the console, parsed, by file name."""
    found = []
    for path in sorted(CATALOG_DIR.glob("*.po")):
        with path.open("rb") as handle:
            found.append((path, read_po(handle, locale="zh_CN")))
    return found


@cache
def translations(locale: ConsoleLocale) -> NullTranslations:
    if locale == "en":
        return NullTranslations()
    buffer = io.BytesIO()
    write_mo(buffer, zh_catalog())
    buffer.seek(0)
    return Translations(buffer, domain="console")


def negotiate(cookie: str | None, accept_language: str | None) -> ConsoleLocale:
    """The user's choice (the language cookie), else the browser's first supported language."""
    if cookie in LOCALES:
        return cookie
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip()
        if not tag:
            continue
        try:
            language = Locale.parse(tag, sep="-")
        except (ValueError, UnknownLocaleError):
            continue
        if language.language == "zh":
            return "zh-CN"
        if language.language == "en":
            return "en"
    return DEFAULT_LOCALE


@dataclass(frozen=True)
class Formats:
    """Dates and numbers as the user's locale writes them, in a given timezone."""

    locale: ConsoleLocale
    timezone: str

    @property
    def babel(self) -> str:
        return _BABEL[self.locale]

    def moment(self, value: datetime | None, timezone: str | None = None) -> str:
        if value is None:
            return "—"
        zone = ZoneInfo(timezone or self.timezone)
        return format_datetime(value, "medium", tzinfo=zone, locale=self.babel)

    def moment_short(self, value: datetime | None, timezone: str | None = None) -> str:
        if value is None:
            return "—"
        zone = ZoneInfo(timezone or self.timezone)
        return format_datetime(value, "short", tzinfo=zone, locale=self.babel)

    def day(self, value: date | datetime | None, timezone: str | None = None) -> str:
        if value is None:
            return "—"
        if isinstance(value, datetime):
            value = value.astimezone(ZoneInfo(timezone or self.timezone)).date()
        return format_date(value, "medium", locale=self.babel)

    def number(self, value: float | int | None, digits: int = 0) -> str:
        if value is None:
            return "—"
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, format=pattern, locale=self.babel)

    def percent(self, value: float | None, digits: int = 1) -> str:
        if value is None:
            return "—"
        pattern = "#,##0" + ("." + "0" * digits if digits else "") + "%"
        return format_percent(value, format=pattern, locale=self.babel)


def gettext_for(locale: ConsoleLocale) -> Callable[[str], str]:
    return translations(locale).gettext
