"""Surveys and their answers; an answer is recorded once (only an unanswered survey changes).
NPS and CSAT are computed by the database, per journey and per period, with the categories of
domain/surveys.py (the SQL mirrors its thresholds).

A survey row exists before its message goes (the message carries its link), so a survey counts
as sent only when its message was: the first outbox row of its run and step requested at or
after the survey was created has status `sent` (or the survey was answered, which proves it).
Surveys of holdout customers and messages skipped, failed or still pending do not count."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, case, func, literal, select, update

from domain.surveys import (
    DETRACTOR_MAX,
    PROMOTER_MIN,
    SATISFIED_MIN,
    CreateSurvey,
    Survey,
    net_promoter_score,
)
from store.db import insert_ignoring, reading, writing
from store.schema import outbox, surveys


class AlreadyAnswered(ValueError):
    pass


class SurveyScores(BaseModel):
    journey_id: str | None
    kind: str
    period: str
    answers: int
    sent: int
    nps: float | None = None  # % promoters - % detractors
    csat: float | None = None  # mean score
    satisfied: float | None = None  # % of CSAT answers from SATISFIED_MIN


class SurveyRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, request: CreateSurvey) -> Survey:
        """Create the survey once; asked again with a later expiry (its message was held and
        goes out only now), an unanswered survey's link lives that much longer."""
        s = surveys.c
        with writing(self._engine) as conn:
            conn.execute(
                insert_ignoring(conn, surveys, "survey_id").values(
                    request.model_dump() | {"comment": ""}
                )
            )
            conn.execute(
                update(surveys)
                .where(
                    s.survey_id == request.survey_id,
                    s.answered_at.is_(None),
                    s.expires_at < request.expires_at,
                )
                .values(expires_at=request.expires_at)
            )
        found = self.get(request.survey_id)
        assert found is not None
        return found

    def get(self, survey_id: str) -> Survey | None:
        with reading(self._engine) as conn:
            row = conn.execute(select(surveys).where(surveys.c.survey_id == survey_id)).first()
            return None if row is None else Survey.model_validate(dict(row._mapping))

    def answer(
        self,
        survey_id: str,
        score: int,
        comment: str,
        now: datetime,
        conn: Connection | None = None,
    ) -> Survey:
        """Record the answer (only an unanswered survey changes); given `conn`, the answer
        joins the caller's transaction."""
        if conn is None:
            with writing(self._engine) as own:
                return self.answer(survey_id, score, comment, now, own)
        s = surveys.c
        done = conn.execute(
            update(surveys)
            .where(s.survey_id == survey_id, s.answered_at.is_(None))
            .values(score=score, comment=comment, answered_at=now)
            .returning(s.survey_id)
        ).first()
        if done is None:
            raise AlreadyAnswered(f"survey {survey_id} was already answered")
        row = conn.execute(select(surveys).where(s.survey_id == survey_id)).one()
        return Survey.model_validate(dict(row._mapping))

    def scores(self, journey_id: str | None = None, by: str = "month") -> list[SurveyScores]:
        """NPS and CSAT per journey, kind and period (`week`, `month` or `all`)."""
        s = surveys.c
        dialect = self._engine.dialect.name
        answered = s.answered_at
        period: Any
        if by == "all":
            period = literal("all")
        elif dialect == "postgresql":
            fmt = 'IYYY-"W"IW' if by == "week" else "YYYY-MM"
            period = func.to_char(func.timezone("UTC", func.coalesce(answered, s.created_at)), fmt)
        else:
            fmt = "%Y-W%W" if by == "week" else "%Y-%m"
            period = func.strftime(fmt, func.coalesce(answered, s.created_at))
        is_answer = s.score.is_not(None)
        o = outbox.c
        message_status = (
            select(o.status)
            .where(
                o.customer_id == s.customer_id,
                o.workflow_id == s.workflow_id,
                o.step_id == s.step_id,
                o.requested_at >= s.created_at,
            )
            .order_by(o.requested_at)
            .limit(1)
            .correlate(surveys)
            .scalar_subquery()
        )
        # `uncertain`: the provider most likely has it; the journey treats it as sent too.
        was_sent = is_answer | message_status.in_(("sent", "uncertain"))
        query = (
            select(
                s.journey_id,
                s.kind,
                period.label("period"),
                func.count(s.score).label("answers"),
                func.sum(case((was_sent, 1), else_=0)).label("sent"),
                func.sum(case((s.score >= PROMOTER_MIN, 1), else_=0)).label("promoters"),
                func.sum(case((is_answer & (s.score <= DETRACTOR_MAX), 1), else_=0)).label(
                    "detractors"
                ),
                func.avg(s.score).label("mean"),
                func.sum(case((s.score >= SATISFIED_MIN, 1), else_=0)).label("happy"),
            )
            .group_by(s.journey_id, s.kind, period)
            .order_by(s.journey_id, s.kind, period)
        )
        if journey_id is not None:
            query = query.where(s.journey_id == journey_id)
        rows = []
        with reading(self._engine) as conn:
            for r in conn.execute(query):
                result = SurveyScores(
                    journey_id=r.journey_id,
                    kind=r.kind,
                    period=str(r.period),
                    answers=r.answers,
                    sent=r.sent or 0,
                )
                if r.answers and r.kind == "nps":
                    nps = net_promoter_score(r.promoters, r.detractors, r.answers)
                    result.nps = round(nps, 1)
                if r.answers and r.kind == "csat":
                    result.csat = round(float(r.mean), 2)
                    result.satisfied = round(100 * r.happy / r.answers, 1)
                rows.append(result)
        return rows
