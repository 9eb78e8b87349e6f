"""Equal journey definitions decoded in one process are one object.

Every run's input carries its journey version's definition, and a worker decoded a copy for
each run it holds: about 25 KiB of objects for win_back's 13 steps, so 1,000 cached runs of one
version held 1,000 equal copies. Definitions are frozen models that nothing changes in place,
so the runs of one version can share one; a definition decoded again is looked up by its
content (which also skips validating it again).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

from pydantic import ValidatorFunctionWrapHandler

from domain.journey import JourneyDefinition

# Distinct definitions kept (versions of journeys a worker runs at once); the oldest goes first.
MAX_SHARED = 256

_shared: OrderedDict[str, JourneyDefinition] = OrderedDict()
_lock = threading.Lock()


def shared_definition(value: Any, validate: ValidatorFunctionWrapHandler) -> JourneyDefinition:
    """Pydantic wrap validator: a definition decoded from a payload (a dict) is the one already
    decoded from equal content; a model passed in as it is stays as it is."""
    if not isinstance(value, dict):
        result: JourneyDefinition = validate(value)
        return result
    key = json.dumps(value, sort_keys=True, default=str)
    with _lock:
        known = _shared.get(key)
        if known is not None:
            _shared.move_to_end(key)
            return known
    definition: JourneyDefinition = validate(value)  # an invalid one raises and is not kept
    with _lock:
        definition = _shared.setdefault(key, definition)
        _shared.move_to_end(key)
        while len(_shared) > MAX_SHARED:
            _shared.popitem(last=False)
    return definition
