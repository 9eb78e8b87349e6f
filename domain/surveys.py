"""NPS and CSAT surveys: the step's settings, score ranges, categories and signed answer links."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.durations import Duration
from domain.messages import Channel

SurveyKind = Literal["nps", "csat"]
SCORES: dict[str, range] = {"nps": range(0, 11), "csat": range(1, 6)}
CREATE_SURVEY = "create_survey"
SURVEY_ANSWERED = "survey_answered"
PURPOSE = "survey"
# NPS: 0-6 detractors, 7-8 passives, 9-10 promoters. CSAT: 4 and 5 are satisfied. The store's
# SQL reports mirror these (store/surveys.py).
DETRACTOR_MAX = 6
PASSIVE_MAX = 8
PROMOTER_MIN = PASSIVE_MAX + 1
SATISFIED_MIN = 4


class SurveySpec(BaseModel):
    """A survey step: which survey, by which channel and template, how long to wait."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: SurveyKind
    channel: Channel = "email"
    template: str
    timeout: Duration = Field(description="How long the journey waits for the answer.")
    expires_in: Duration | None = Field(
        default=None, description="How long the link works; default: the timeout."
    )


class CreateSurvey(BaseModel):
    survey_id: str
    kind: SurveyKind
    customer_id: str
    journey_id: str
    workflow_id: str
    step_id: str
    expires_at: datetime
    created_at: datetime


class SurveyLink(BaseModel):
    survey_id: str
    url: str


class Survey(BaseModel):
    survey_id: str
    kind: SurveyKind
    customer_id: str
    journey_id: str | None = None
    workflow_id: str | None = None
    step_id: str | None = None
    expires_at: datetime
    created_at: datetime
    score: int | None = None
    comment: str = ""
    answered_at: datetime | None = None


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: int
    comment: str = Field(default="", max_length=2000)


def check_score(kind: str, score: int) -> None:
    allowed = SCORES[kind]
    if score not in allowed:
        raise ValueError(
            f"a {kind.upper()} score is {allowed.start} to {allowed.stop - 1}, not {score}"
        )


def nps_category(score: int) -> Literal["detractor", "passive", "promoter"]:
    if score <= DETRACTOR_MAX:
        return "detractor"
    return "passive" if score <= PASSIVE_MAX else "promoter"


def csat_satisfied(score: int) -> bool:
    return score >= SATISFIED_MIN


def net_promoter_score(promoters: int, detractors: int, answers: int) -> float:
    """% promoters - % detractors, from -100 to +100 (`answers` > 0)."""
    return 100 * (promoters - detractors) / answers


def nps_of(scores: Iterable[int]) -> float | None:
    """The NPS of these answers; None without any."""
    categories = [nps_category(score) for score in scores]
    if not categories:
        return None
    return net_promoter_score(
        categories.count("promoter"), categories.count("detractor"), len(categories)
    )
