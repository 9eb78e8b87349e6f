"""The ledger of live workflow patches: behaviour changes that runs in flight did not have.

Every `workflow.patched(...)` call names a constant from here. A patch lives through three
steps, one release each: `patched` (new runs take the new path, old histories replay the old
one), `deprecate_patch` once no run from before is left (the old branch is deleted), then the
marker is removed. Each entry says when it was added and when its next step is due.

There are no deployments with runs in flight yet: the six patches of the first releases were
folded on 2026-12-01 (their old branches deleted, the recorded histories re-recorded), so the
ledger starts empty.

Run operations (2026-12-02: the updates end_run, skip_wait, retry_step, move_to and waits they
can end) took no patch: a history without those updates produces exactly the commands it did
before (the replay tests of every recorded history prove it), and only a run that accepted one
takes the new path, which an update in its own history records. Histories of runs that took
them are recorded too (behaviour_run_operations, behaviour_run_end).
"""

from __future__ import annotations

# name -> (added, next step and when)
LIVE: dict[str, tuple[str, str]] = {}
