"""Every string the console shows has its zh-CN text, with the same placeholders."""

from __future__ import annotations

from scripts.console_catalog import (
    disagreements,
    mismatched_placeholders,
    missing,
    sources,
    unused,
)


def test_the_console_has_strings_to_translate() -> None:
    assert len({source.msgid for source in sources()}) > 30


def test_no_console_string_lacks_a_chinese_translation() -> None:
    lacking = [f"{s.file}:{s.line}: {s.msgid}" for s in missing()]
    assert not lacking, "no zh-CN text for:\n" + "\n".join(lacking)


def test_translations_keep_every_placeholder() -> None:
    assert not mismatched_placeholders()


def test_the_catalogs_hold_no_entry_that_no_page_uses() -> None:
    assert not unused()


def test_a_string_in_two_catalogs_is_translated_the_same_in_both() -> None:
    assert not disagreements()
