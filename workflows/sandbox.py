"""The workflow sandbox with domain/ and its pure libraries passed through once.

Passing them through (rather than re-importing per run) keeps workflow start-up cheap and lets
Jinja2 import its runtime lazily, which the sandbox would otherwise refuse.

Two strengths (measured with `python -m scripts.bench_memory`, 300 parked runs):

- strict (`workflow_runner()`, what the workflow and replay tests use): every workflow module
  is imported afresh for each run, so the sandbox sees each call workflow code makes.
  About 230 KiB of worker memory per cached run (the module's code and classes, per run) and
  half the start rate.
- lean (`workflow_runner(strict=False, ...)`, what `build_worker` gives the workers): the
  worker's workflow modules are passed through as well, imported once and shared by every
  run (they hold no state of a run: module constants only). About 63 KiB per cached run.
  Kept: `open()` and the other restricted builtins, restricted modules imported inside
  workflow code (a lazy `import socket`), Temporal's own non-determinism detection on replay
  (commands against history), and every check of the strict runner in the test suite, which
  runs each workflow test and every recorded history under it. Lost in the worker only:
  the refusal of `time.time()`, `random.random()`, `datetime.now()` and `os.environ` bound at
  a workflow module's top (the tests still refuse them).
"""

from __future__ import annotations

import importlib.util
import py_compile
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

PASSED_THROUGH = ("domain", "jinja2", "markupsafe", "pydantic", "pydantic_core", "zoneinfo")
WORKFLOW_PACKAGE = "workflows"


def workflow_runner(
    *, strict: bool = True, workflows: Iterable[type] = ()
) -> SandboxedWorkflowRunner:
    """The sandbox runner; not `strict`, the modules of `workflows` (and the `workflows`
    package) are passed through too (see the module's docstring for what that keeps)."""
    modules: tuple[str, ...] = PASSED_THROUGH
    if strict:
        _compile_workflow_modules()
    else:
        modules += (WORKFLOW_PACKAGE, *sorted({w.__module__ for w in workflows}))
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*modules)
    )


_compiled = False


def _compile_workflow_modules() -> None:
    """Bytecode for the workflow modules the strict sandbox imports afresh for every run.

    Without it (PYTHONDONTWRITEBYTECODE, as here and in many images) each run compiled
    workflows/journey.py from source: half of the replay time of the recorded histories
    (scripts/bench_replay.py). Compiled once into a private prefix outside the source tree
    (as `workers.worker.cache_workflow_bytecode` does for the workers).
    """
    global _compiled
    if _compiled or not sys.dont_write_bytecode:
        return
    if sys.pycache_prefix is None:
        sys.pycache_prefix = tempfile.mkdtemp(prefix="journeys-workflow-bytecode-")
    for source in sorted(str(path) for path in Path(__file__).parent.glob("*.py")):
        py_compile.compile(source, cfile=importlib.util.cache_from_source(source), doraise=True)
    _compiled = True
