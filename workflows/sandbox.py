"""The workflow sandbox with domain/ and its pure libraries passed through once.

Passing them through (rather than re-importing per run) keeps workflow start-up cheap and lets
Jinja2 import its runtime lazily, which the sandbox would otherwise refuse.
"""

from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

PASSED_THROUGH = ("domain", "jinja2", "markupsafe", "pydantic", "pydantic_core", "zoneinfo")


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH)
    )
