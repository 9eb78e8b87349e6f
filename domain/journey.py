"""The journey DSL as pydantic models: what ops write in YAML, what a run pins and interprets."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    field_validator,
    model_validator,
)

from domain.audiences import AudienceSpec
from domain.callbacks import CallbackSpec, Outcome
from domain.clock_time import PATTERN as CLOCK_PATTERN
from domain.clock_time import check_clock_time, parse_clock_time
from domain.durations import Duration
from domain.events import EventType
from domain.matching import properties_match
from domain.messages import Channel
from domain.send_policy import QuietHours
from domain.surveys import SurveySpec

STEP_ID_PATTERN = r"^[a-z][a-z0-9_]*$"
StepId = Annotated[str, StringConstraints(pattern=STEP_ID_PATTERN, max_length=64)]
Target = Annotated[str, StringConstraints(pattern=STEP_ID_PATTERN, max_length=64)]
# A number in a journey file is finite: NaN never equals anything, inf overflows weights.
Number = Annotated[float, Field(allow_inf_nan=False)]
MatchValue = str | int | Number | bool
END = "end"
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Trigger(_Strict):
    """Which event enrolls a customer, how runs are keyed, and whether they may enter again."""

    event: EventType
    match: dict[str, MatchValue] = Field(
        default_factory=dict, description="Event properties that must equal these values."
    )
    correlate_on: str | None = Field(
        default=None,
        description="Event property that keys the run (one run per customer and value).",
    )
    re_entry: Literal["always", "once", "cooldown"] = "always"
    cooldown: Duration | None = None

    @model_validator(mode="after")
    def _cooldown_given(self) -> Trigger:
        if self.re_entry == "cooldown" and self.cooldown is None:
            raise ValueError("re_entry 'cooldown' needs a cooldown duration, e.g. cooldown: 30d")
        if self.re_entry != "cooldown" and self.cooldown is not None:
            raise ValueError("cooldown is only used with re_entry: cooldown")
        # The largest cooldown is checked at validate (domain/checks.py): this model also
        # reads the definitions that runs in flight carry.
        return self

    def matches(self, event_type: str, properties: dict[str, Any]) -> bool:
        """Whether an event of this type with these properties enrolls a customer."""
        return event_type == self.event and properties_match(properties, self.match)


class Goal(_Strict):
    """An event that ends a run at once, whatever step it is in (e.g. the customer ordered)."""

    event: EventType
    match: dict[str, MatchValue] = Field(
        default_factory=dict,
        description="Property values the event must carry; strings may be templates "
        "such as '{{ trigger.order_id }}'.",
    )
    name: str | None = Field(default=None, description="Defaults to the event name.")
    converted: bool = Field(default=True, description="Whether reaching it counts as conversion.")

    @property
    def label(self) -> str:
        return self.name or self.event


class TemplateVariant(_Strict):
    """One locale's wording of a template."""

    subject: str = ""
    text: str
    html: str | None = None


class Template(TemplateVariant):
    """A message template; email uses subject, text and optional HTML, SMS uses text.

    The base fields are the default wording; `locales` holds other locales' wording (e.g.
    `zh-CN`). A customer gets their exact locale, else its language (`zh`), else the default.
    """

    locales: dict[
        Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")],
        TemplateVariant,
    ] = Field(
        default_factory=dict, description="Wording per locale, e.g. {zh-CN: {subject, text}}."
    )

    def variant(self, locale: str | None) -> tuple[str, TemplateVariant]:
        """The wording for `locale` and the locale it is for ('default' for the base)."""
        if locale:
            wanted = locale.lower()
            by_name = {name.lower(): name for name in self.locales}
            for candidate in (wanted, wanted.split("-")[0]):
                if candidate in by_name:
                    return by_name[candidate], self.locales[by_name[candidate]]
            language = wanted.split("-")[0]
            for name in self.locales:  # zh asks, zh-CN is there
                if name.lower().split("-")[0] == language:
                    return name, self.locales[name]
        return "default", self


CONTINUE = "continue"


class SendSpec(_Strict):
    """A message to send, and where the run goes when it fails for good."""

    channel: Channel
    template: str
    category: Literal["transactional", "marketing"] | None = Field(
        default=None,
        description="This message's category instead of the journey's: a welcome or receipt "
        "in a marketing journey is `transactional` (sent at once, whatever the quiet hours, "
        "caps or marketing unsubscribe).",
    )
    on_failure: Target = Field(
        default=CONTINUE,
        description="When the message fails for good (the provider refused it, or retries ran "
        "out): `continue` to the next step, `end` the run, or the id of a step to go to.",
    )

    def failure_target(self, following: str) -> str:
        """Where the run goes after a permanent failure, given the step that follows."""
        return following if self.on_failure == CONTINUE else self.on_failure


class WaitSpec(_Strict):
    """Wait a duration, or until a local time of day, or a duration and then that time."""

    for_: Duration | None = Field(default=None, alias="for")
    until: str | None = Field(
        default=None,
        description="Local time of day HH:MM in the customer's timezone.",
        json_schema_extra={"pattern": CLOCK_PATTERN},
    )
    on_days: list[Weekday] | None = Field(
        default=None, description="With `until`: only these weekdays, e.g. [mon, tue, wed]."
    )

    @field_validator("until")
    @classmethod
    def _clock(cls, value: str | None) -> str | None:
        return None if value is None else check_clock_time(value, "until")

    @model_validator(mode="after")
    def _something(self) -> WaitSpec:
        if self.for_ is None and self.until is None:
            raise ValueError("wait needs `for` (a duration), `until` (HH:MM) or both")
        if self.on_days is not None and (self.until is None or not self.on_days):
            raise ValueError("on_days needs `until` and at least one weekday")
        return self

    @property
    def until_time(self) -> time | None:
        return None if self.until is None else parse_clock_time(self.until)

    @property
    def delay(self) -> timedelta:
        return self.for_ or timedelta(0)


class WaitForSpec(_Strict):
    event: EventType
    match: dict[str, MatchValue] = Field(default_factory=dict)
    timeout: Duration


class BranchCase(_Strict):
    when: str | None = None
    else_: Target | None = Field(default=None, alias="else")
    goto: Target | None = None

    @model_validator(mode="after")
    def _shape(self) -> BranchCase:
        if self.else_ is not None:
            if self.when is not None or self.goto is not None:
                raise ValueError("an `else` case stands alone: {else: step_id}")
        elif self.when is None or self.goto is None:
            raise ValueError("a case needs `when` and `goto`, or is {else: step_id}")
        return self

    @property
    def target(self) -> str:
        return self.else_ if self.else_ is not None else str(self.goto)


class UpdateSpec(_Strict):
    set: dict[str, Any] = Field(default_factory=dict, description="Profile attributes to set.")
    add_tags: list[str] = Field(default_factory=list)
    remove_tags: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something(self) -> UpdateSpec:
        if not (self.set or self.add_tags or self.remove_tags):
            raise ValueError("update needs `set`, `add_tags` or `remove_tags`")
        return self


class EndSpec(_Strict):
    reason: str = "end"


class SplitVariant(_Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    weight: float = Field(
        default=1,
        ge=0,
        allow_inf_nan=False,
        description="Relative share; 0 closes the variant.",
    )
    goto: Target


class HoldoutSpec(_Strict):
    percent: float = Field(
        gt=0, lt=100, allow_inf_nan=False, description="Share of entrants who get no messages."
    )


class SampleValues(_Strict):
    """Values every customer and trigger of this journey carry, for checking templates.

    Loading a journey renders every template, in every locale, strictly against a sample
    customer; a template may rely on a profile attribute or trigger property without a
    `default(...)` only if it is named here.
    """

    profile: dict[str, Any] = Field(default_factory=dict)
    trigger: dict[str, MatchValue] = Field(default_factory=dict)


class _Step(_Strict):
    id: StepId
    name: str | None = None

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == END:
            raise ValueError("'end' is reserved: it is the target that ends the run")
        return value


class SendStep(_Step):
    send: SendSpec


class WaitStep(_Step):
    wait: WaitSpec


class WaitForStep(_Step):
    wait_for: WaitForSpec
    on_timeout: Target | None = Field(
        default=None, description="Step to go to when the event does not come in time."
    )


class BranchStep(_Step):
    branch: list[BranchCase] = Field(min_length=1)

    @field_validator("branch")
    @classmethod
    def _else_last(cls, cases: list[BranchCase]) -> list[BranchCase]:
        elses = [i for i, case in enumerate(cases) if case.else_ is not None]
        if len(elses) > 1 or (elses and elses[0] != len(cases) - 1):
            raise ValueError("at most one `else`, and it must be the last case")
        return cases


class UpdateStep(_Step):
    update: UpdateSpec


class SplitStep(_Step):
    """A/B/n: each customer goes, stably, to one variant's `goto` by the weights."""

    split: list[SplitVariant] = Field(min_length=2)

    @field_validator("split")
    @classmethod
    def _variants(cls, variants: list[SplitVariant]) -> list[SplitVariant]:
        names = [v.name for v in variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be unique: {', '.join(names)}")
        if sum(v.weight for v in variants) <= 0:
            raise ValueError("weights are all zero: at least one variant needs a weight above 0")
        return variants


class HoldoutStep(_Step):
    """A control group: a stable `percent` of entrants walk on but are sent nothing."""

    holdout: HoldoutSpec


class GotoStep(_Step):
    goto: Target


class CallbackStep(_Step):
    """Book a callback; wait for its outcome (branching by `on_outcome`) or the timeout."""

    callback: CallbackSpec
    on_outcome: dict[Outcome, Target] = Field(
        default_factory=dict, description="Where each outcome goes; others: the next step."
    )
    on_timeout: Target | None = None


class SurveyStep(_Step):
    """Send an NPS or CSAT survey and wait for the answer (`steps.<id>.score`)."""

    survey: SurveySpec
    on_timeout: Target | None = None


class StartSpec(_Strict):
    """Enroll the customer in another journey (its re-entry policy and pause state apply)."""

    journey: StepId = Field(description="The id of the journey to start.")
    properties: dict[str, Any] = Field(
        default_factory=dict,
        description="Properties of the trigger the other journey's run gets; values may be "
        "templates ({{ trigger.x }}, {{ steps.s.y }}).",
    )


class StartStep(_Step):
    """Start another journey for this customer; the outcome is the step's output."""

    start: StartSpec


def _end_schema(schema: dict[str, Any]) -> None:
    # The published schema must accept the short forms `_loose` reads: `end: reason` or `end:`.
    ref = schema.pop("$ref")
    schema["anyOf"] = [{"$ref": ref}, {"type": "string"}, {"type": "null"}, {"const": True}]


class EndStep(_Step):
    model_config = ConfigDict(json_schema_extra={"required": ["id", "end"]})

    end: EndSpec = Field(default_factory=EndSpec, json_schema_extra=_end_schema)

    @field_validator("end", mode="before")
    @classmethod
    def _loose(cls, value: Any) -> Any:
        if value is None or value is True:
            return {}
        if isinstance(value, str):
            return {"reason": value}
        return value


STEP_KINDS = (
    "send",
    "wait",
    "wait_for",
    "branch",
    "update",
    "split",
    "holdout",
    "goto",
    "end",
    "callback",
    "survey",
    "start",
)


def step_kind(raw: Any) -> str | None:
    """The kind of a raw or parsed step: the one kind key it carries."""
    if isinstance(raw, BaseModel):
        return type(raw).__name__.removesuffix("Step").lower().replace("waitfor", "wait_for")
    if isinstance(raw, dict):
        kinds = [key for key in STEP_KINDS if key in raw]
        return kinds[0] if len(kinds) == 1 else None
    return None


Step = Annotated[
    Annotated[SendStep, Tag("send")]
    | Annotated[WaitStep, Tag("wait")]
    | Annotated[WaitForStep, Tag("wait_for")]
    | Annotated[BranchStep, Tag("branch")]
    | Annotated[UpdateStep, Tag("update")]
    | Annotated[SplitStep, Tag("split")]
    | Annotated[HoldoutStep, Tag("holdout")]
    | Annotated[GotoStep, Tag("goto")]
    | Annotated[CallbackStep, Tag("callback")]
    | Annotated[SurveyStep, Tag("survey")]
    | Annotated[StartStep, Tag("start")]
    | Annotated[EndStep, Tag("end")],
    Discriminator(
        step_kind,
        custom_error_type="unknown_step_kind",
        custom_error_message="a step needs exactly one kind key: " + ", ".join(STEP_KINDS),
    ),
]


class JourneyDefinition(_Strict):
    """One journey: trigger, goals, templates and the steps every entrant walks."""

    id: StepId
    name: str
    description: str = ""
    category: Literal["transactional", "marketing"] = "marketing"
    trigger: Trigger
    exit_when: list[Goal] = Field(default_factory=list)
    templates: dict[str, Template] = Field(default_factory=dict)
    audience: AudienceSpec | None = Field(
        default=None, description="Enroll a segment's members on a daily schedule."
    )
    sample: SampleValues = Field(
        default_factory=SampleValues,
        description="Profile attributes and trigger properties templates may rely on.",
    )
    quiet_hours: list[QuietHours] | None = Field(
        default=None,
        description="This journey's quiet hours instead of the workspace policy's ([]: none).",
    )
    after_case: Literal["resume", "skip"] = Field(
        default="resume",
        description="Marketing messages wait while the customer has an open complaint case; "
        "then they are sent (resume) or dropped (skip).",
    )
    steps: list[Step] = Field(min_length=1)

    def category_of(self, step_id: str) -> Literal["transactional", "marketing"]:
        """The category the message of this step goes out under: its own, else the journey's."""
        step = next((s for s in self.steps if s.id == step_id), None)
        if isinstance(step, SendStep) and step.send.category is not None:
            return step.send.category
        return self.category

    def index_of(self, step_id: str) -> int:
        for index, step in enumerate(self.steps):
            if step.id == step_id:
                return index
        raise KeyError(step_id)

    def template(self, name: str) -> Template:
        return self.templates[name]
