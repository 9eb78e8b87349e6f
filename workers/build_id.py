"""The workers' build id, named from the workflow code (light to import: the simulator uses it)."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import domain
import workflows


@functools.cache
def workflow_build_id() -> str:
    """The worker's build id: a digest of the workflow and domain sources.

    Without one the SDK digests the code of every module loaded, and with no bytecode cache
    (PYTHONDONTWRITEBYTECODE) that compiles each from source: 3-4 s of CPU at each worker's
    start, and at each simulation process's (py-spy, docs/bench/). Versioning is not used;
    the id only names the code, and changes when workflow code does.
    """
    digest = hashlib.md5(usedforsecurity=False)
    for package in (workflows, domain):
        for path in sorted(Path(str(package.__file__)).parent.glob("*.py")):
            digest.update(path.read_bytes())
    return f"journeys-{digest.hexdigest()[:16]}"
