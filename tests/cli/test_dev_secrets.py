"""The dev stack's secrets: customer links and webhooks are signed with different keys."""

from __future__ import annotations

import stat
from pathlib import Path

from app.bootstrap import resolve_secret_key, resolve_webhook_secret
from workers.settings import Settings


def test_webhooks_are_not_signed_with_the_key_of_customer_links(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    links = resolve_secret_key(settings, create=True)
    webhooks = resolve_webhook_secret(settings)
    assert links != webhooks
    assert resolve_webhook_secret(settings) == webhooks  # kept across restarts
    assert stat.S_IMODE((tmp_path / "webhook_secret").stat().st_mode) == 0o600
