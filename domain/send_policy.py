"""The workspace's send policy: quiet hours and frequency caps, and the pure rules behind them.

A policy file (YAML, `JOURNEYS_POLICY_FILE`, default journeys/policy/send_policy.yaml)::

    quiet_hours:                      # in each customer's own timezone
      - {channels: [sms], start: "21:00", end: "09:00"}
      - {channels: [email], start: "22:00", end: "07:00"}
    caps:                             # across every journey of a customer
      - {name: marketing_daily, max: 2, per: 24h}
      - {name: one_sms_a_day, channels: [sms], max: 1, per: 1d, action: skip}

Rules apply to `categories` (default: marketing only; transactional messages are never held
back unless a rule names them) and to `channels` (default: every channel). A journey may
override the quiet hours with its own `quiet_hours:` list (`[]`: none).

A message inside quiet hours is deferred to the moment they end, found with the customer's
timezone rules (a daylight-saving change in the night moves the UTC instant, not the local
hour). Caps count the messages claimed in the rolling window; the store does the counting
atomically (store/send_ledger.py).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from domain.clock_time import PATTERN as CLOCK_PATTERN
from domain.clock_time import check_clock_time, parse_clock_time
from domain.durations import Duration, format_duration
from domain.messages import Channel
from domain.yaml_reading import read_yaml

Category = Literal["transactional", "marketing"]


def _marketing() -> list[Category]:
    return ["marketing"]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: list[Channel] | None = Field(default=None, description="None: every channel.")
    categories: list[Category] = Field(default_factory=_marketing)

    def applies(self, channel: str, category: str) -> bool:
        return (self.channels is None or channel in self.channels) and category in self.categories


class QuietHours(_Rule):
    """No sends from `start` to `end` local time (a window may run over midnight)."""

    start: str = Field(json_schema_extra={"pattern": CLOCK_PATTERN})
    end: str = Field(json_schema_extra={"pattern": CLOCK_PATTERN})

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        return check_clock_time(value)

    @field_validator("end")
    @classmethod
    def _not_empty(cls, value: str, info: Any) -> str:
        if info.data.get("start") == value:
            raise ValueError("start and end are equal: the window would be empty")
        return value

    def label(self, timezone: str) -> str:
        return f"quiet hours {self.start}-{self.end} {timezone}"

    def ends(self, now: datetime, timezone: str) -> datetime | None:
        """When the window holding `now` ends (UTC), or None when `now` is outside it."""
        start, end = parse_clock_time(self.start), parse_clock_time(self.end)
        clock = now.astimezone(ZoneInfo(timezone)).time()
        inside = start <= clock < end if start < end else (clock >= start or clock < end)
        # Imported here: domain.schedule imports the journey DSL, which imports this module.
        from domain.schedule import next_local_time

        return next_local_time(now, end, timezone) if inside else None


class FrequencyCap(_Rule):
    """At most `max` messages per rolling `per`; the next one is deferred or skipped."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    max: int = Field(ge=1)
    per: Duration
    action: Literal["defer", "skip"] = "defer"

    def label(self) -> str:
        return f"cap {self.name}: {self.max} per {format_duration(self.per)}"


class SendPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    quiet_hours: list[QuietHours] = Field(default_factory=list)
    caps: list[FrequencyCap] = Field(default_factory=list)

    @field_validator("caps")
    @classmethod
    def _unique_names(cls, caps: list[FrequencyCap]) -> list[FrequencyCap]:
        names = [cap.name for cap in caps]
        if len(set(names)) != len(names):
            raise ValueError(f"cap names must be unique: {', '.join(names)}")
        return caps

    def caps_for(self, channel: str, category: str) -> list[FrequencyCap]:
        return [cap for cap in self.caps if cap.applies(channel, category)]


def quiet_until(
    windows: list[QuietHours], channel: str, category: str, now: datetime, timezone: str
) -> tuple[datetime, str] | None:
    """The first moment no applicable window holds, with the reason; None to send now."""
    until, reasons = now, list[str]()
    for _ in range(len(windows) + 1):  # windows may chain (one ends inside another)
        held = [
            (end, w.label(timezone))
            for w in windows
            if w.applies(channel, category) and (end := w.ends(until, timezone)) is not None
        ]
        if not held:
            break
        end, reason = max(held)
        until, reasons = end, [*reasons, reason]
    if until == now:
        return None
    return until, "; ".join(dict.fromkeys(reasons))


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file and the field."""


def parse_policy(raw: Any, source: str = "<policy>") -> SendPolicy:
    if raw is None:
        return SendPolicy()
    try:
        return SendPolicy.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"{source}: {'.'.join(str(p) for p in error['loc']) or '(top)'}: {error['msg']}"
            for error in exc.errors()
        ]
        raise PolicyError("\n".join(problems)) from exc


def load_policy_file(path: str | Path) -> SendPolicy:
    path = Path(path)
    try:
        raw = read_yaml(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: invalid YAML: {exc}") from exc
    return parse_policy(raw, str(path))
