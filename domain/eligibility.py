"""Send eligibility: whether a message goes now, later or not at all, and by which rule.

`decide_send` is the one home of the rule. It is pure: the caller gathers the facts (the
customer's address and consent, the suppression entry for the address, open cases, the quiet
hours and caps in force with the customer's recent sends, the moment) and gets a decision:

- `send`;
- `defer` until a moment (and, for an open case, until an event ends the wait early);
- `skip`: the message is dropped (no address, a cap whose action is skip, the journey's
  after-case policy);
- `suppress`: the customer or the address said no (consent, the suppression list).

Each decision names its `rule`, so reports and later decisions match on the rule, never on the
wording of the reason. The rules apply in this order: the address, consent (marketing only),
the suppression list; then an open case (marketing only), quiet hours, frequency caps.

The send activity decides under the send ledger's per-customer lock, so two sends never take
a cap's last slot; `preview` decides for a message asked for now; the simulator decides with
the sends it keeps in memory.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.send_policy import FrequencyCap, QuietHours, quiet_until

Verdict = Literal["send", "defer", "skip", "suppress"]
Rule = Literal[
    "journey_held",
    "no_address",
    "consent",
    "suppressed",
    "open_case",
    "after_case",
    "quiet_hours",
    "cap",
]
# The rules about the recipient decide whether the message may exist at all; the others only
# decide when (or, by policy, drop a message that could have gone).
RECIPIENT_RULES: frozenset[Rule] = frozenset({"no_address", "consent", "suppressed"})
MAX_CASE_HOLD = timedelta(days=14)  # asked again then even if no case_resolved arrives
CASE_RESOLVED = "case_resolved"
# A send held by its journey's pause (--hold-sends) is asked again this often even if the
# release (the run's `sends_released` signal at resume) never reaches it.
HOLD_RECHECK = timedelta(days=1)


class Suppressed(BaseModel):
    """The suppression list's entry for the address: a hard bounce, a complaint, by hand."""

    model_config = ConfigDict(frozen=True)

    reason: str
    scope: Literal["all", "marketing"]
    detail: str = ""

    def blocks(self, category: str) -> bool:
        return self.scope == "all" or category == "marketing"


class RecentSend(BaseModel):
    """A message of the customer that holds a frequency-cap slot."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    channel: str
    category: str


class SendFacts(BaseModel):
    """What the decision depends on; the caller looks it up, the rule only reads it."""

    model_config = ConfigDict(frozen=True)

    channel: str
    category: str
    recipient: str | None = Field(description="The customer's address on the channel, if any.")
    consented: bool = Field(description="The customer's consent on the channel.")
    suppression: Suppressed | None = None
    open_cases: list[str] = Field(default_factory=list, description="Ids of open cases.")
    held_for_case: bool = Field(
        default=False, description="An earlier attempt of this message waited for an open case."
    )
    after_case: Literal["resume", "skip"] = "resume"
    quiet_hours: list[QuietHours] = Field(default_factory=list)
    timezone: str = "UTC"
    caps: list[FrequencyCap] = Field(
        default_factory=list, description="The policy's caps; those that apply are chosen here."
    )
    recent: list[RecentSend] = Field(
        default_factory=list,
        description="The customer's messages holding a cap slot, at least over cap_window.",
    )
    claimed: bool = Field(
        default=False, description="This message holds its cap slot already (a retry)."
    )
    journey_held: bool = Field(
        default=False, description="The journey is paused with its sends held (--hold-sends)."
    )
    now: datetime


class Eligibility(BaseModel):
    """The decision, the rule behind it (None for send) and the reason in words."""

    model_config = ConfigDict(frozen=True)

    verdict: Verdict
    rule: Rule | None = None
    reason: str = ""
    until: datetime | None = None
    resume_on: str | None = None

    @property
    def sends(self) -> bool:
        return self.verdict == "send"


SEND = Eligibility(verdict="send")


def applicable_caps(caps: list[FrequencyCap], channel: str, category: str) -> list[FrequencyCap]:
    return [cap for cap in caps if cap.applies(channel, category)]


def cap_window(caps: list[FrequencyCap], channel: str, category: str) -> timedelta | None:
    """How far back the recent sends must reach for this message; None when no cap applies."""
    return max((cap.per for cap in applicable_caps(caps, channel, category)), default=None)


def full_cap(
    caps: list[FrequencyCap], recent: list[RecentSend], now: datetime
) -> tuple[FrequencyCap, datetime] | None:
    """The first cap in `caps` with no room at `now`, and when it has room again."""
    for cap in caps:
        counted = sorted(
            send.at
            for send in recent
            if send.at > now - cap.per
            and send.category in cap.categories
            and (cap.channels is None or send.channel in cap.channels)
        )
        if len(counted) >= cap.max:
            # Room again when enough of the oldest counted messages leave the window.
            return cap, counted[len(counted) - cap.max] + cap.per
    return None


def decide_send(facts: SendFacts) -> Eligibility:
    """Send now, defer, skip or suppress this message, and by which rule."""
    channel, category, now = facts.channel, facts.category, facts.now
    if facts.journey_held:
        # First: an operator's hold stops every message of the journey, whatever else holds;
        # at the release the message is decided again (quiet hours, caps) as if new.
        return Eligibility(
            verdict="defer",
            rule="journey_held",
            reason="the journey is paused with its sends held; they go when it is resumed",
            until=now + HOLD_RECHECK,
        )
    if not facts.recipient:
        return Eligibility(verdict="skip", rule="no_address", reason=f"no {channel} address")
    if category == "marketing" and not facts.consented:
        return Eligibility(
            verdict="suppress", rule="consent", reason=f"unsubscribed from {channel}"
        )
    blocked = facts.suppression
    if blocked is not None and blocked.blocks(category):
        reason = f"suppressed: {blocked.reason} ({blocked.detail or facts.recipient})"
        return Eligibility(verdict="suppress", rule="suppressed", reason=reason)
    if category == "marketing" and facts.open_cases:
        return Eligibility(
            verdict="defer",
            rule="open_case",
            reason=f"open case {', '.join(facts.open_cases)}",
            until=now + MAX_CASE_HOLD,
            resume_on=CASE_RESOLVED,
        )
    if category == "marketing" and facts.after_case == "skip" and facts.held_for_case:
        return Eligibility(
            verdict="skip",
            rule="after_case",
            reason="held during an open case; the journey's policy skips it after",
        )
    quiet = quiet_until(facts.quiet_hours, channel, category, now, facts.timezone)
    if quiet is not None:
        until, windows = quiet
        return Eligibility(
            verdict="defer",
            rule="quiet_hours",
            reason=f"{windows} until {until.isoformat()}",
            until=until,
        )
    caps = applicable_caps(facts.caps, channel, category)
    full = None if facts.claimed else full_cap(caps, facts.recent, now)
    if full is None:
        return SEND
    cap, room_at = full
    if cap.action == "defer":
        return Eligibility(
            verdict="defer",
            rule="cap",
            reason=f"{cap.label()} reached; room at {room_at}",
            until=room_at,
        )
    return Eligibility(
        verdict="skip", rule="cap", reason=f"{cap.label()} reached; skipped by policy"
    )
