"""The README's Configuration table documents exactly the variables the settings read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import AliasChoices

from workers.settings import REPO_ROOT, Settings

README = REPO_ROOT / "README.md"
NAME = re.compile(r"`([^`]*)`")


def configuration_table() -> list[tuple[list[str], str]]:
    """(variables, default) per row of the table under `## Configuration`."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index("## Configuration")
    rows: list[tuple[list[str], str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("## "):
            break
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells[0] in ("variable", "---"):
            continue
        rows.append((NAME.findall(cells[0]), " | ".join(cells[1:])))
    return rows


def documented() -> dict[str, str]:
    """Each documented variable and the default cell of its row."""
    found: dict[str, str] = {}
    for names, default in configuration_table():
        for name in names:
            assert re.fullmatch(r"JOURNEYS_[A-Z0-9_]+", name), (
                f"README Configuration: write each variable in full, not {name!r}"
            )
            assert name not in found, f"README Configuration lists {name} twice"
            found[name] = default
    return found


def env_names() -> dict[str, str]:
    """Each variable the settings class reads, with the field that reads it."""
    prefix = Settings.model_config.get("env_prefix", "")
    names: dict[str, str] = {}
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias or field.alias
        if isinstance(alias, str):
            choices = [alias]
        elif isinstance(alias, AliasChoices):
            choices = [choice for choice in alias.choices if isinstance(choice, str)]
        else:
            choices = [f"{prefix}{field_name}"]
        for choice in choices:
            names[choice.upper()] = field_name
    return names


def test_the_table_is_found_and_read() -> None:
    # Guards the parser: an empty or misread table would make the comparisons vacuous.
    table = documented()
    assert len(table) >= 20
    assert "JOURNEYS_DATABASE_URL" in table


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    missing = sorted(set(env_names()) - set(documented()))
    assert not missing, f"README Configuration does not list {', '.join(missing)}"


def test_the_readme_configuration_table_lists_no_setting_that_does_not_exist() -> None:
    stale = sorted(set(documented()) - set(env_names()))
    assert not stale, f"README Configuration lists {', '.join(stale)}, which no setting reads"


def _shown(default: object) -> str | None:
    """How a default appears in the table, or None when it is described in words."""
    if isinstance(default, bool):
        return None
    if isinstance(default, Path):
        inside = default.is_relative_to(REPO_ROOT)
        return (default.relative_to(REPO_ROOT) if inside else default).as_posix()
    if isinstance(default, int | str) and default != "":
        return str(default)
    return None


@pytest.mark.parametrize("name", sorted(env_names()))
def test_the_documented_default_is_the_settings_default(name: str) -> None:
    table = documented()
    if name not in table:
        pytest.skip(f"{name} is not documented (the test above says so)")
    field = Settings.model_fields[env_names()[name]]
    cell = table[name]
    if isinstance(field.default, bool):
        words = r"\b(on|true)\b" if field.default else r"\b(off|false)\b"
        assert re.search(words, cell), f"README says {cell!r} for {name}, default {field.default}"
        return
    shown = _shown(field.default)
    if shown is not None:
        assert shown in cell, f"README says {cell!r} for {name}; its default is {shown!r}"
