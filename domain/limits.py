"""Limits on input, named in one place so every boundary (journey files, the API, the CLI) agrees.

Ids and keys are bounded so that every workflow id, `journey/{journey}/{customer}/{value}`,
fits in Temporal's 512 characters; journey files are bounded so that loading, validating and
running one ends in seconds and bounded memory.
"""

from __future__ import annotations

# Ids and keys: "journey/" + journey + "/" + customer + "/" + correlation value <= 512.
MAX_JOURNEY_ID = 128
MAX_CUSTOMER_ID = 128
MAX_EVENT_ID = 128
MAX_CORRELATION_VALUE = 200
MAX_WORKFLOW_ID = 512

# Nesting of attributes, properties and journey documents.
MAX_NESTING_DEPTH = 32

assert len("journey///") + MAX_JOURNEY_ID + MAX_CUSTOMER_ID + MAX_CORRELATION_VALUE <= (
    MAX_WORKFLOW_ID
)

# Journey files: loading, validating and running one ends in seconds and bounded memory.
MAX_DURATION_DAYS = 3650  # `wait.for`, `wait_for.timeout`, callback and survey durations, ...
MAX_COOLDOWN_DAYS = 3650  # `trigger.cooldown`
MAX_DURATION_TEXT = 64  # characters of one duration such as `1d12h`
MAX_STEPS = 500
MAX_JOURNEY_FILE = 1_000_000  # characters of one journey file
MAX_YAML_NODES = 100_000  # values of a YAML document once its aliases are expanded
MAX_SPLIT_WEIGHT = 1_000_000.0
MIN_PER_SECOND = 0.01  # audience pacing, enrollments per second
MAX_PER_SECOND = 10_000.0

# Templates and conditions, per render or evaluation (deterministic counts, no clocks: the
# workflow evaluates them too, and a replay must fail or succeed the same way).
MAX_TEMPLATE_SIZE = 100_000  # characters of one template or condition source
MAX_VALUE_SIZE = 200_000  # characters (or items) of any string or list a template makes
MAX_OUTPUT_SIZE = 200_000  # characters one render writes, captured blocks and macros included
MAX_OPERATIONS = 100_000  # loop iterations and calls in one render
MAX_WORK = 10_000_000  # characters produced, summed over one render
MAX_RANGE = 10_000  # items of one `range(...)`
MAX_INT_BITS = 256  # integers arithmetic may make (2**256 is about 1e77)
