"""Privacy: what erasing a customer scrubs, what it keeps, and the tombstone it leaves.

The rule (one home for it; store/privacy.py applies it, app/privacy.py runs the use case):

- **Scrubbed**, because it is about the person: the profile's email, phone, attributes and tags
  (timezone and locale go back to the defaults; consent becomes "no" on every channel); every
  event's properties; every stored message's recipient, subject, bodies and detail; case
  summaries, resolutions and history texts; callback notes and context; survey comments. Text
  that is kept (step details, run end reasons, send decision reasons) has the customer's email
  and phone cut out wherever they appear. The customer_metrics row (a profile built from the
  log) is dropped.
- **Kept**, as anonymised facts, so counts, funnels and reports stay right: the customer id
  (the tombstone needs it to refuse the person's return), event ids, types and times, message
  statuses, channels and templates, send decisions and their rules, runs and their step
  records, case and callback statuses and times, survey scores. Suppressions of the
  customer's addresses are kept too: they are what stops a bounced or complaining address
  from being written to again, whoever it comes back as.
- **Audit entries** stay, each with who acted, what they did, on what and when, but the
  customer's email and phone are cut out of their targets and details wherever they appear
  (a suppression removed for the address reads `email/[erased]`), and the free texts of an
  entry about the customer (a case's note, response, resolution or reopen reason) are blanked,
  as the case's own texts are.
- **Ended**: running journey runs (their workflows are terminated), open cases (closed) and
  open or claimed callback tasks (cancelled), each with the reason "customer erased".

An erased customer leaves a tombstone. While it stands (forever), an event, an upsert or an
enrollment for that customer id is refused, naming the erasure, so that a replayed or late
event cannot bring the person back.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

ERASED_REASON = "customer erased"
# The ApplicationError type an activity fails with, for good, when its customer was erased
# (a case workflow that meets it ends: workflows/case.py).
ERASED_ERROR = "CustomerErased"
# What a scrubbed piece of kept text shows in place of a contact point.
REDACTED = "[erased]"


class Erasure(BaseModel):
    """The tombstone of an erased customer (or of one whose erasure is under way)."""

    customer_id: str
    started_at: datetime = Field(
        description="When the erasure began: from then on the "
        "customer's events, upserts and enrollments are refused."
    )
    erased_at: datetime | None = Field(
        default=None,
        description="When the store was scrubbed; null while the erasure is unfinished (a "
        "crash part-way): erasing again finishes it.",
    )

    @property
    def finished(self) -> bool:
        return self.erased_at is not None

    def describe(self) -> str:
        if self.erased_at is None:
            return (
                f"customer {self.customer_id!r} is being erased (since "
                f"{self.started_at.isoformat()}); erase again to finish it"
            )
        return f"customer {self.customer_id!r} was erased at {self.erased_at.isoformat()}"


class CustomerErased(Exception):
    """Something was asked of an erased customer that erasure forbids; says when."""

    def __init__(self, erasure: Erasure, what: str = "") -> None:
        self.erasure = erasure
        suffix = f": {what} refused" if what else ""
        super().__init__(f"{erasure.describe()}{suffix}")


# --- the scrubbing rule --------------------------------------------------------------------


def scrubbed_profile() -> dict[str, Any]:
    """The profile columns of an erased customer (identity kept, everything else default)."""
    return {
        "email": None,
        "phone": None,
        "timezone": "UTC",
        "locale": "en",
        "attributes": {},
        "tags": [],
        "consent": {"email": False, "sms": False, "webhook": False},
    }


def scrubbed_properties(_properties: dict[str, Any]) -> dict[str, Any]:
    """An event's properties after erasure: none (type, id and times are kept)."""
    return {}


def scrubbed_message() -> dict[str, Any]:
    """The columns of a stored message after erasure (status, channel, template, times kept)."""
    return {"recipient": None, "subject": "", "body_text": "", "body_html": None, "detail": ""}


def redact(text: str | None, secrets: list[str]) -> str | None:
    """`text` with every one of `secrets` (the customer's contact points) cut out, in any
    letter case (an address is the same address as ADA@Example.com)."""
    if text is None:
        return None
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = re.sub(re.escape(secret), REDACTED, text, flags=re.IGNORECASE)
    return text


# Free text an audit entry's details may carry (app/cases.py records a case change's payload).
AUDIT_FREE_TEXT = frozenset({"text", "resolution", "reason", "summary", "notes", "comment"})


def _redacted_value(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, list):
        return [_redacted_value(item, secrets) for item in value]
    if isinstance(value, dict):
        return {key: _redacted_value(item, secrets) for key, item in value.items()}
    return value


def scrubbed_audit_entry(
    target: str, details: dict[str, Any], secrets: list[str], *, about_customer: bool
) -> tuple[str, dict[str, Any]]:
    """An audit entry's target and details after its customer's erasure: contact points cut
    out everywhere, and on an entry about the customer, free texts blanked. Who acted, the
    action and its time are columns of their own, kept as they are."""
    kept = _redacted_value(details, secrets)
    if about_customer:
        kept = {key: "" if key in AUDIT_FREE_TEXT else value for key, value in kept.items()}
    return redact(target, secrets) or "", kept


def contact_points(email: str | None, phone: str | None) -> list[str]:
    """What `redact` must cut out of kept text for this customer."""
    return [value for value in (email, phone) if value]


def scrubbed_case_state(state: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A case's stored state (CaseState as JSON) after erasure: texts gone, closed if open."""
    history = [
        {**entry, "text": "", "by": entry.get("by", "")} for entry in state.get("history", [])
    ]
    scrubbed = {**state, "summary": "", "resolution": "", "history": history}
    if scrubbed.get("status") != "closed":
        scrubbed["status"] = "closed"
        scrubbed["closed_at"] = now.isoformat()
        scrubbed["history"] = [
            *history,
            {"at": now.isoformat(), "action": "closed", "by": "", "text": ERASED_REASON},
        ]
    return scrubbed
