"""`journeys keys` and `journeys audit` against a store of their own: a key is printed once,
stored as its hash, listed with its role, revoked; each change is audited as cli:<user>."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.audit import cli_actor
from entrypoints import cli_common
from entrypoints.cli import app
from store.store import Store
from workers.settings import get_settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def store_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("JOURNEYS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("JOURNEYS_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    monkeypatch.setattr(cli_common.console, "width", 200)
    monkeypatch.setattr(cli_common.errors, "width", 200)
    yield tmp_path
    get_settings.cache_clear()


def journeys(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_a_key_is_printed_once_listed_by_role_and_revoked(store_in: Path) -> None:
    code, out, err = journeys("keys", "create", "crm-sync", "--role", "ingest")
    assert code == 0, err
    key = out.strip()
    assert key.startswith("jk_") and len(key) > 40
    assert "not shown again" in err
    with Store.open(get_settings().db_url) as store:
        assert store.keys.resolve(key, store.keys.all()[0].created_at) is not None
    code, out, _ = journeys("keys", "list")
    assert code == 0
    assert "crm-sync" in out and "ingest" in out and key not in out
    code, out, err = journeys("keys", "revoke", "crm-sync")
    assert code == 0, err
    assert "revoked crm-sync (ingest)" in out
    with Store.open(get_settings().db_url) as store:
        [row] = store.keys.all()
        assert row.revoked_at is not None
        assert store.keys.resolve(key, row.created_at) is None


def test_bad_input_names_the_cause() -> None:
    code, _, err = journeys("keys", "create", "x", "--role", "root")
    assert code == 1 and "unknown role 'root'" in err and "viewer" in err
    code, _, err = journeys("keys", "create", "has space", "--role", "viewer")
    assert code == 1 and "not allowed" in err
    assert journeys("keys", "create", "twice", "--role", "viewer")[0] == 0
    code, _, err = journeys("keys", "create", "twice", "--role", "admin")
    assert code == 1 and "exists" in err
    code, _, err = journeys("keys", "revoke", "nobody")
    assert code == 1 and "no key named 'nobody'" in err


def test_key_changes_are_in_the_audit_log_as_the_cli_user() -> None:
    journeys("keys", "create", "ops-1", "--role", "ops")
    journeys("keys", "revoke", "ops-1")
    code, out, err = journeys("audit", "--wide")
    assert code == 0, err
    lines = [line for line in out.splitlines() if "ops-1" in line]
    assert len(lines) == 2
    assert "key.create" in lines[0] and "key.revoke" in lines[1]
    assert cli_actor().name in lines[0] and "admin" in lines[0]
    code, out, _ = journeys("audit", "--action", "key.revoke", "--wide")
    assert "key.revoke" in out and "key.create" not in out
    code, out, _ = journeys("audit", "--actor", "someone-else")
    assert "ops-1" not in out
    code, _, err = journeys("audit", "--action", "nonsense")
    assert code == 1 and "unknown action" in err
