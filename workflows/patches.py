"""The ledger of live workflow patches: behaviour changes that runs in flight did not have.

Every `workflow.patched(...)` call names a constant from here. A patch lives through three
steps, one release each: `patched` (new runs take the new path, old histories replay the old
one), `deprecate_patch` once no run from before is left (the old branch is deleted), then the
marker is removed. Each entry says when it was added and when its next step is due.

There are no deployments with runs in flight yet: the six patches of the first releases were
folded on 2026-12-01 (their old branches deleted, the recorded histories re-recorded), so the
ledger starts empty.
"""

from __future__ import annotations

# name -> (added, next step and when)
LIVE: dict[str, tuple[str, str]] = {}
