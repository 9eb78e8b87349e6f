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
