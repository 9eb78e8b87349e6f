"""HTTP: the callback queue (list, claim, complete), survey reports, and the public survey
answer page (a plain HTML form that works without JavaScript, in the customer's locale)."""

from __future__ import annotations

import html
from typing import Annotated
from urllib.parse import parse_qs

from annotated_types import MaxLen
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, ValidationError

from app.support import SupportService, UnknownSurvey
from domain.callbacks import CallbackTask, Completion
from domain.surveys import SCORES, Answer, Survey
from domain.tokens import TokenError
from entrypoints.api_common import NOT_FOUND, ErrorDetail, protected_router
from store.callbacks import CallbackRefused, UnknownCallback
from store.surveys import AlreadyAnswered, SurveyScores

router = protected_router()
public = APIRouter()
# Public pages are never shown inside another site's frame (clickjacking an answer).
NO_FRAMING = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"}
MAX_COMMENT: int = next(
    rule.max_length for rule in Answer.model_fields["comment"].metadata if isinstance(rule, MaxLen)
)
REFUSED: dict[int | str, dict[str, object]] = {
    409: {"model": ErrorDetail, "description": "Claimed by someone else, or already done."},
    **NOT_FOUND,
}


def get_support(request: Request) -> SupportService:
    support: SupportService = request.app.state.support
    return support


Support = Annotated[SupportService, Depends(get_support)]


class Claim(BaseModel):
    agent: str = Field(min_length=1, max_length=64)


class QueuedTask(CallbackTask):
    is_overdue: bool = False


@router.get("/callbacks", tags=["callbacks"], response_model=list[QueuedTask])
def list_callbacks(
    support: Support, queue: str | None = None, agent: str | None = None
) -> list[QueuedTask]:
    """Open and claimed tasks, soonest due first; overdue ones flagged."""
    now = support.now()
    return [
        QueuedTask(**task.model_dump(), is_overdue=task.overdue(now))
        for task in support.store.callbacks.list(queue, agent)
    ]


@router.post(
    "/callbacks/{task_id}/claim", tags=["callbacks"], response_model=CallbackTask, responses=REFUSED
)
def claim(task_id: str, body: Claim, support: Support) -> CallbackTask:
    try:
        return support.claim(task_id, body.agent)
    except UnknownCallback as exc:
        raise HTTPException(404, str(exc)) from exc
    except CallbackRefused as exc:
        raise HTTPException(409, str(exc)) from exc


@router.post(
    "/callbacks/{task_id}/complete",
    tags=["callbacks"],
    response_model=CallbackTask,
    responses=REFUSED,
)
async def complete(task_id: str, completion: Completion, support: Support) -> CallbackTask:
    """Record the call's outcome; the journey waiting on it resumes and branches on it."""
    try:
        return await support.complete(task_id, completion)
    except UnknownCallback as exc:
        raise HTTPException(404, str(exc)) from exc
    except CallbackRefused as exc:
        raise HTTPException(409, str(exc)) from exc


@router.get("/reports/surveys", tags=["reports"], response_model=list[SurveyScores])
def survey_report(
    support: Support,
    journey_id: str | None = None,
    by: Annotated[str, Query(pattern="^(week|month|all)$")] = "month",
) -> list[SurveyScores]:
    """NPS (promoters % - detractors %) and CSAT (mean, % 4-5) per journey and period."""
    return support.store.surveys.scores(journey_id, by)


# --- the public answer page --------------------------------------------------------------------

TEXTS = {
    "en": {
        "nps": "How likely are you to recommend us to a friend? (0 = not at all, 10 = very)",
        "csat": "How satisfied are you? (1 = very unsatisfied, 5 = very satisfied)",
        "comment": "Anything you want to tell us? (optional)",
        "send": "Send",
        "thanks": "Thank you for your answer!",
        "done": "You have already answered this survey. Thank you!",
        "bad": "This link cannot be used",
        "range": "Please choose one of the scores.",
        "long": "Your comment is too long: please keep it to {limit} characters.",
    },
    "zh-CN": {
        "nps": "您有多大可能向朋友推荐我们？（0 = 完全不会，10 = 非常可能）",
        "csat": "您对这次服务满意吗？（1 = 非常不满意，5 = 非常满意）",
        "comment": "还有什么想告诉我们的吗？（选填）",
        "send": "提交",
        "thanks": "感谢您的回答！",
        "done": "您已经回答过这份问卷，谢谢！",
        "bad": "此链接无法使用",
        "range": "请选择一个分数。",
        "long": "您的留言太长了：请控制在 {limit} 个字符以内。",
    },
}


def _texts(support: SupportService, survey: Survey | None) -> dict[str, str]:
    profile = support.store.customers.get(survey.customer_id) if survey else None
    locale = profile.locale if profile else "en"
    return TEXTS.get(locale) or TEXTS.get(locale.split("-")[0], TEXTS["en"])


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>",
        status_code=status,
        headers=NO_FRAMING,
    )


def _form(token: str, survey: Survey, texts: dict[str, str], note: str = "") -> str:
    scores = SCORES[survey.kind]
    choices = "".join(
        f"<label><input type='radio' name='score' value='{n}' required> {n}</label> "
        for n in scores
    )
    warning = f"<p><strong>{html.escape(note)}</strong></p>" if note else ""
    return (
        f"{warning}<form method='post' action='/s/{html.escape(token)}'>"
        f"<p>{html.escape(texts[survey.kind])}</p><p>{choices}</p>"
        f"<p><label>{html.escape(texts['comment'])}<br>"
        f"<textarea name='comment' rows='4' cols='40' maxlength='{MAX_COMMENT}'></textarea>"
        "</label></p>"
        f"<button type='submit'>{html.escape(texts['send'])}</button></form>"
    )


@public.get("/s/{token}", include_in_schema=False)
def survey_page(token: str, support: Support) -> HTMLResponse:
    if support.links is None:
        return _page("Surveys are not available", "", 503)
    try:
        survey = support.survey_for(token)
    except (TokenError, UnknownSurvey) as exc:
        texts = TEXTS["en"]
        status = 410 if isinstance(exc, TokenError) and exc.reason == "expired" else 400
        return _page(texts["bad"], f"<p>{html.escape(str(exc))}</p>", status)
    texts = _texts(support, survey)
    if survey.answered_at is not None:
        return _page(texts["done"], "", 409)
    return _page(survey.kind.upper(), _form(token, survey, texts))


@public.post("/s/{token}", include_in_schema=False)
async def answer(token: str, request: Request, support: Support) -> HTMLResponse:
    if support.links is None:
        return _page("Surveys are not available", "", 503)
    fields = parse_qs((await request.body()).decode("utf-8", "replace"))
    try:
        survey = support.survey_for(token)
    except (TokenError, UnknownSurvey) as exc:
        status = 410 if isinstance(exc, TokenError) and exc.reason == "expired" else 400
        return _page(TEXTS["en"]["bad"], f"<p>{html.escape(str(exc))}</p>", status)
    texts = _texts(support, survey)
    comment = fields.get("comment", [""])[0]
    if len(comment) > MAX_COMMENT:
        note = texts["long"].format(limit=MAX_COMMENT)
        return _page(survey.kind.upper(), _form(token, survey, texts, note), 422)
    try:
        given = Answer(score=int(fields.get("score", [""])[0]), comment=comment)
        await support.answer(token, given)
    except (ValueError, ValidationError) as exc:
        if isinstance(exc, AlreadyAnswered):
            return _page(texts["done"], "", 409)
        note = (
            f"{texts['range']} ({exc})" if not isinstance(exc, ValidationError) else texts["range"]
        )
        return _page(survey.kind.upper(), _form(token, survey, texts, note), 422)
    return _page(texts["thanks"], "")
