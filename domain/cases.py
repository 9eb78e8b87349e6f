"""Complaint cases: severities and their SLAs, the state a case workflow keeps, and the rules
that say which update is allowed when (pure, so the workflow's validators can use them)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.customers import CustomerId
from domain.durations import format_duration
from domain.journey import Template
from domain.messages import Channel

Severity = Literal["low", "normal", "high", "urgent"]
CaseStatus = Literal["open", "resolved", "closed"]
SUPERVISORS = "supervisors"
SUPPORT = "support"
CASE_WORKFLOW = "CaseWorkflow"
RECORD_CASE = "record_case"

# First response and resolution, by severity.
SLA: dict[str, tuple[timedelta, timedelta]] = {
    "urgent": (timedelta(hours=1), timedelta(hours=8)),
    "high": (timedelta(hours=4), timedelta(hours=24)),
    "normal": (timedelta(hours=24), timedelta(hours=72)),
    "low": (timedelta(hours=72), timedelta(days=7)),
}
# A resolved case closes when it is not reopened within this time.
CLOSE_AFTER = timedelta(days=7)

# Case categories as a customer reads them, per locale; the default wording shows the
# category as it is. A category missing here (an ops team's own) is shown as it is, too.
CATEGORY_NAMES: dict[str, dict[str, str]] = {
    "zh-CN": {
        "account": "账户",
        "app": "应用",
        "billing": "账单",
        "complaint": "投诉",
        "delivery": "配送",
        "general": "一般问题",
        "order": "订单",
        "other": "其他",
        "payment": "付款",
        "privacy": "隐私",
        "product": "商品",
        "quality": "商品质量",
        "refund": "退款",
        "return": "退货",
        "service": "服务",
        "shipping": "物流",
        "technical": "技术问题",
        "website": "网站",
    }
}
DURATION_UNITS: dict[str, tuple[tuple[timedelta, str], ...]] = {
    "zh-CN": (
        (timedelta(days=1), "天"),
        (timedelta(hours=1), "小时"),
        (timedelta(minutes=1), "分钟"),
        (timedelta(seconds=1), "秒"),
    )
}


def category_name(category: str, locale: str) -> str:
    """`category` as a reader of `locale` reads it ("delivery" in zh-CN: "配送")."""
    return CATEGORY_NAMES.get(locale, {}).get(category, category)


def duration_words(value: timedelta, locale: str) -> str:
    """`value` as a reader of `locale` reads it (1 day in zh-CN: "1 天", 36 hours: "1 天 12
    小时"); other locales get the `1d12h` spelling the case messages always used."""
    units = DURATION_UNITS.get(locale)
    if units is None:
        return format_duration(value)
    parts, rest = [], value
    for size, word in units:
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count} {word}")
    return " ".join(parts) or f"0 {units[-1][1]}"


def _localized(expression: str, table: dict[str, str]) -> str:
    """A template expression: `expression`'s value looked up in `table` (itself if absent)."""
    literal = json.dumps(table, ensure_ascii=False, sort_keys=True)
    return f"{{{{ {literal}.get({expression}, {expression}) }}}}"


def _zh_cn_acknowledgement() -> Template:
    # The case workflow gives `first_response_within` in the `1d` spelling: each SLA's
    # spelling maps to its zh-CN words here, so the message reads "1 天", not "1d".
    within = {format_duration(first): duration_words(first, "zh-CN") for first, _ in SLA.values()}
    category = _localized("case.category", CATEGORY_NAMES["zh-CN"])
    return Template(
        subject="我们已收到您的反馈：工单 {{ case.case_id }}",
        text=(
            "{{ profile.first_name | default('您') }}好，\n\n"
            f"感谢您的反馈。您的工单 {{{{ case.case_id }}}}（{category}）已创建，"
            f"我们会在 {_localized('case.first_response_within', within)}内回复您。\n"
        ),
    )


ACKNOWLEDGEMENT = Template(
    subject="We have your message: case {{ case.case_id }}",
    text=(
        "Hi {{ profile.first_name | default('there') }},\n\n"
        "Thank you for telling us. Your case {{ case.case_id }} ({{ case.category }}) is open "
        "and a person will answer within {{ case.first_response_within }}.\n"
    ),
    locales={"zh-CN": _zh_cn_acknowledgement()},
)


class OpenCase(BaseModel):
    """What support gives to open a case; `case_id` makes a retried request open one case."""

    model_config = ConfigDict(extra="forbid")

    customer_id: CustomerId
    channel: Channel = "email"
    category: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    severity: Severity = "normal"
    summary: str = Field(min_length=1, max_length=2000)


class CaseEntry(BaseModel):
    """One line of a case's history."""

    at: datetime
    action: str
    by: str = ""
    text: str = ""


class CaseState(BaseModel):
    """What the case workflow keeps and its `state` query answers."""

    case_id: str
    customer_id: str
    channel: str
    category: str
    severity: Severity
    summary: str
    status: CaseStatus = "open"
    queue: str = SUPPORT
    assignee: str | None = None
    opened_at: datetime
    first_response_due: datetime
    resolution_due: datetime
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    resolution: str = ""
    escalations: list[str] = Field(default_factory=list)
    history: list[CaseEntry] = Field(default_factory=list)


class StartCase(BaseModel):
    case_id: str
    request: OpenCase
    # The support agents new cases are assigned to (JOURNEYS_SUPPORT_ROSTER); empty: nobody.
    roster: list[str] = Field(default_factory=list)


class Assign(BaseModel):
    agent: str = Field(min_length=1, max_length=64)


class Note(BaseModel):
    text: str = Field(min_length=1, max_length=4000)
    by: str = Field(min_length=1, max_length=64)


class Respond(BaseModel):
    text: str = Field(min_length=1, max_length=4000)
    by: str = Field(min_length=1, max_length=64)


class Resolve(BaseModel):
    resolution: str = Field(min_length=1, max_length=4000)
    by: str = Field(min_length=1, max_length=64)


class Reopen(BaseModel):
    reason: str = Field(min_length=1, max_length=4000)
    by: str = Field(min_length=1, max_length=64)


class CaseRecord(BaseModel):
    """What the case workflow asks the store to keep and the customer's log to hear."""

    state: CaseState
    event: str | None = None  # case_opened, case_escalated, case_resolved, case_reopened, ...
    event_key: str = ""


class CaseRuleError(ValueError):
    """An update the case's state does not allow."""


def check_update(state: CaseState, action: str) -> None:
    """Raise CaseRuleError unless `action` is allowed in `state`."""
    if state.status == "closed":
        raise CaseRuleError(f"case {state.case_id} is closed; open a new case instead")
    if action in ("assign", "respond", "resolve") and state.status == "resolved":
        raise CaseRuleError(f"case {state.case_id} is resolved; reopen it first")
    if action == "reopen" and state.status != "resolved":
        raise CaseRuleError(f"case {state.case_id} is {state.status}; only a resolved case reopens")


def auto_assignee(case_id: str, roster: Sequence[str]) -> str | None:
    """The roster agent a new case goes to: picked by a hash of the case id, so cases spread
    evenly over the roster with no counter to share, and a replay or retry picks the same."""
    agents = [agent for agent in roster if agent]
    if not agents:
        return None
    digest = hashlib.sha256(case_id.encode()).digest()
    return agents[int.from_bytes(digest[:8], "big") % len(agents)]


def new_state(case_id: str, request: OpenCase, now: datetime) -> CaseState:
    first, resolution = SLA[request.severity]
    return CaseState(
        case_id=case_id,
        customer_id=request.customer_id,
        channel=request.channel,
        category=request.category,
        severity=request.severity,
        summary=request.summary,
        opened_at=now,
        first_response_due=now + first,
        resolution_due=now + resolution,
        history=[CaseEntry(at=now, action="opened", text=request.summary)],
    )


SlaState = Literal["breached", "due_soon", "fine"]
SLA_STATES: tuple[SlaState, ...] = ("breached", "due_soon", "fine")
# A deadline closer than this is "due soon" (the queue shows it before it breaches).
DUE_SOON = timedelta(hours=1)


def next_deadline(state: CaseState) -> datetime | None:
    """The SLA deadline the case works towards: the first response until it is given, then
    the resolution; None once the case is resolved or closed (no SLA runs)."""
    if state.status != "open":
        return None
    if state.first_response_at is None:
        return min(state.first_response_due, state.resolution_due)
    return state.resolution_due


def sla_state(state: CaseState, now: datetime) -> SlaState:
    """breached (a deadline has passed), due_soon (one is within DUE_SOON) or fine."""
    deadline = next_deadline(state)
    if deadline is None:
        return "fine"
    if deadline <= now:
        return "breached"
    if deadline - now <= DUE_SOON:
        return "due_soon"
    return "fine"
