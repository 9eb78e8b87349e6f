"""Broadcasts: a one-off send of one template to a segment's members, now or at a time.

A broadcast is a journey like any other, generated here: one send step, category marketing
unless told otherwise, re-entry `once`, published under the reserved id `broadcast_<name>`.
So every member's message goes through the send path of every journey (consent and
unsubscribe, suppression, quiet hours, caps, open-case holds, the outbox's exactly-once) and
the broadcast has a funnel like any journey. Its members are enrolled by the audience
enrollment run (workflows/audience.py) under the workflow id `broadcast/<name>`, started at
once or with a durable start delay until the broadcast's time.

Every rule about the input lives here; each refusal names the field it is about
(`BroadcastRefused.field`), so the CLI and the API can say which option or body field is wrong
before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

from domain.checks import check
from domain.journey import JourneyDefinition, Template
from domain.limits import MAX_JOURNEY_FILE
from domain.messages import Channel
from domain.yaml_reading import read_yaml

Category = Literal["marketing", "transactional"]
CHANNELS: tuple[Channel, ...] = ("email", "sms", "webhook")
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
MAX_NAME = 48  # `broadcast_` + name stays within a journey id's 64 characters
JOURNEY_PREFIX = "broadcast_"
TEMPLATE_NAME = "message"
SEND_STEP = "send"
# What the stored row says: saved but Temporal not told yet, or its enrollment run started
# (perhaps with a start delay until `scheduled_at`).
BroadcastStatus = Literal["created", "scheduled"]


class BroadcastRefused(ValueError):
    """Bad input: which field (`name`, `segment`, `template`, `channel`, `at`, `category`)
    and why. Nothing was written."""

    def __init__(
        self,
        field: str,
        message: str,
        kind: Literal["invalid", "unknown", "conflict"] = "invalid",
    ) -> None:
        super().__init__(message)
        self.field = field
        # invalid: the value itself is wrong; unknown: it names nothing there is (a segment);
        # conflict: fine in itself, but not with what is there (a name used, no members).
        self.kind = kind

    def __str__(self) -> str:
        return f"{self.field}: {self.args[0]}"


class UnknownBroadcast(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no broadcast named {name!r}")
        self.name = name


def journey_id_for(name: str) -> str:
    return f"{JOURNEY_PREFIX}{name}"


def workflow_id_for(name: str) -> str:
    """The enrollment run's workflow id: one per broadcast, whoever starts it."""
    return f"broadcast/{name}"


def check_name(name: str) -> str:
    if not re.fullmatch(NAME_PATTERN, name) or len(name) > MAX_NAME:
        raise BroadcastRefused(
            "name",
            f"{name!r} is not a broadcast name: use 1-{MAX_NAME} lowercase letters, digits "
            "and '_', starting with a letter (e.g. black_friday_2026)",
        )
    return name


def check_time(at: datetime | None, now: datetime) -> datetime | None:
    """`at` if it is a future instant with a timezone; None (send now) stays None."""
    if at is None:
        return None
    if at.tzinfo is None or at.utcoffset() is None:
        raise BroadcastRefused(
            "at",
            f"{at.isoformat()} has no timezone: give one, e.g. 2026-12-24T09:00:00+01:00 or "
            "...Z for UTC",
        )
    if at <= now:
        raise BroadcastRefused(
            "at", f"{at.isoformat()} is in the past (now is {now.isoformat(timespec='seconds')})"
        )
    return at


def parse_time(text: str) -> datetime:
    """An ISO 8601 instant (`Z` for UTC accepted); ValueError naming the field otherwise."""
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise BroadcastRefused(
            "at", f"{text!r} is not an ISO 8601 time such as 2026-12-24T09:00:00+01:00"
        ) from exc


def parse_template(text: str, source: str) -> Template:
    """A template file: subject, text, optional html and `locales`, as in a journey's
    `templates:` entry. Refused, naming the file, when it does not load."""
    if len(text) > MAX_JOURNEY_FILE:
        raise BroadcastRefused("template", f"{source}: longer than {MAX_JOURNEY_FILE} characters")
    try:
        raw = read_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise BroadcastRefused("template", f"{source}: invalid YAML{where}: {reason}") from exc
    except (ValueError, OverflowError, RecursionError) as exc:
        raise BroadcastRefused("template", f"{source}: invalid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise BroadcastRefused(
            "template", f"{source}: a template file is a mapping of subject, text, html, locales"
        )
    try:
        return Template.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        raise BroadcastRefused("template", f"{source}: {where}: {first['msg']}") from exc


def check_channel(channel: str, template: Template, configured: Collection[str]) -> Channel:
    """The channel, if it exists, is configured here, and the template can go by it."""
    found = next((c for c in CHANNELS if c == channel), None)
    if found is None:
        raise BroadcastRefused(
            "channel", f"unknown channel {channel!r}: choose one of {', '.join(CHANNELS)}"
        )
    if found not in configured:
        setting = {"sms": "JOURNEYS_SMS_URL", "webhook": "JOURNEYS_WEBHOOK_URL"}.get(found, "")
        raise BroadcastRefused(
            "channel", f"the {found} channel is not configured here (set {setting})", "conflict"
        )
    if found == "email":
        missing = [
            locale
            for locale, variant in [("default", template), *template.locales.items()]
            if not variant.subject.strip()
        ]
        if missing:
            raise BroadcastRefused(
                "channel",
                "email needs a subject, and the template has none for "
                + ", ".join(repr(m) for m in missing),
            )
    return found


def broadcast_journey(
    name: str, segment: str, channel: Channel, template: Template, category: Category
) -> JourneyDefinition:
    """The generated journey: one send of the template, once per customer."""
    return JourneyDefinition.model_validate(
        {
            "id": journey_id_for(name),
            "name": f"Broadcast {name}",
            "description": f"A one-off {channel} to the members of segment {segment} "
            f"(`journeys broadcast show {name}`).",
            "category": category,
            "trigger": {
                "event": "journey_enrolled",
                "match": {"journey_id": journey_id_for(name)},
                "re_entry": "once",
            },
            "templates": {TEMPLATE_NAME: template.model_dump(exclude_none=True)},
            "steps": [{"id": SEND_STEP, "send": {"channel": channel, "template": TEMPLATE_NAME}}],
        }
    )


def template_problems(journey: JourneyDefinition) -> list[str]:
    """Why the template would not render (each problem names the locale and part)."""
    prefix = f"templates.{TEMPLATE_NAME}"
    problems = []
    for problem in check(journey):
        where = problem.field.removeprefix(prefix).lstrip(".")
        message = problem.message.replace(f" (sent by step {SEND_STEP!r})", "")
        problems.append(f"{where}: {message}" if where else message)
    return problems


class Broadcast(BaseModel):
    """One broadcast as stored."""

    name: str
    journey_id: str
    workflow_id: str
    segment: str
    channel: Channel
    category: Category
    template: str = Field(description="The template file it was created from.")
    scheduled_at: datetime | None = Field(description="When it sends; null: at creation.")
    created_by: str
    created_at: datetime
    status: BroadcastStatus
    started_at: datetime | None = None


class SkipReason(BaseModel):
    reason: str
    count: int


class BroadcastProgress(BaseModel):
    """Where a broadcast is: its enrollment (members, enrolled) and its messages' outcomes."""

    state: Literal[
        "not started", "scheduled", "enrolling", "sending", "done", "stopped", "unknown"
    ] = Field(description="unknown: Temporal could not be asked; the counts are the store's.")
    members: int | None = Field(
        description="Segment members when the run measured it; null until it has."
    )
    enrolled: int
    sent: int
    deferred: int = Field(description="Messages waiting now (quiet hours, a cap, an open case).")
    deferred_reasons: list[SkipReason] = Field(
        default_factory=list, description="Held messages by rule: quiet_hours, cap, open_case."
    )
    skipped: int
    skipped_reasons: list[SkipReason] = Field(default_factory=list)
    skipped_rules: list[SkipReason] = Field(
        default_factory=list, description="Skipped messages by rule: consent, no_address, ..."
    )
    failed: int
    uncertain: int = 0
    running: int = Field(description="Runs not ended yet.")
    stopped: str = ""


class BroadcastView(BaseModel):
    broadcast: Broadcast
    progress: BroadcastProgress


def progress_state(
    broadcast: Broadcast,
    run: Literal["missing", "delayed", "running", "completed", "failed", "unknown"],
    running_runs: int,
    stopped: str,
) -> Literal["not started", "scheduled", "enrolling", "sending", "done", "stopped", "unknown"]:
    """In words: the run not started, waiting for its time, enrolling, sending, or done."""
    if run == "unknown":
        return "unknown"
    if broadcast.status == "created" or run == "missing":
        return "not started"
    if run == "delayed":
        return "scheduled"
    if run == "running":
        return "enrolling"
    if stopped or run == "failed":
        return "stopped"
    return "sending" if running_runs else "done"


def audit_details(broadcast: Broadcast) -> dict[str, Any]:
    return {
        "segment": broadcast.segment,
        "channel": broadcast.channel,
        "category": broadcast.category,
        "template": broadcast.template,
        "scheduled_at": broadcast.scheduled_at.isoformat() if broadcast.scheduled_at else None,
        "journey_id": broadcast.journey_id,
    }
