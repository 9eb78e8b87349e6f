"""HTTP: the callback queue (list, claim, complete), survey reports, and the public survey
answer page (a plain HTML form that works without JavaScript, in the customer's language, else
the browser's; wording in entrypoints/public_texts.py)."""

from __future__ import annotations

import html
from typing import Annotated
from urllib.parse import parse_qs

from annotated_types import MaxLen
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, ValidationError

from app.support import SupportService, UnknownSurvey
from domain.callbacks import CallbackTask, Completion
from domain.surveys import SCORES, Answer, Survey
from domain.tokens import TokenError
from entrypoints.api_common import NOT_FOUND, ErrorDetail, protected_router, requires
from entrypoints.public_texts import page_locale, refusal, texts
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
    agent: str = Field(
        min_length=1, max_length=64, pattern=r"\S", description="Who takes the call."
    )


class QueuedTask(CallbackTask):
    is_overdue: bool = False


@router.get(
    "/callbacks",
    dependencies=[requires("callbacks:read")],
    tags=["callbacks"],
    response_model=list[QueuedTask],
)
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
    "/callbacks/{task_id}/claim",
    dependencies=[requires("callbacks:write")],
    tags=["callbacks"],
    response_model=CallbackTask,
    responses=REFUSED,
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
    dependencies=[requires("callbacks:write")],
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


@router.get(
    "/reports/surveys",
    dependencies=[requires("reports:read")],
    tags=["reports"],
    response_model=list[SurveyScores],
)
def survey_report(
    support: Support,
    journey_id: str | None = None,
    by: Annotated[str, Query(pattern="^(week|month|all)$")] = "month",
) -> list[SurveyScores]:
    """NPS (promoters % - detractors %) and CSAT (mean, % 4-5) per journey and period."""
    return support.store.surveys.scores(journey_id, by)


# --- the public answer page --------------------------------------------------------------------

AcceptLanguage = Annotated[str | None, Header(include_in_schema=False)]


def _locale(support: SupportService, token: str, accept: str | None) -> str:
    """The language of the customer the link names (a genuine one), else the browser's."""
    profile = None
    if support.links is not None:
        try:
            _, customer_id = support.links.read(token, support.now())
        except TokenError:
            pass
        else:
            profile = support.store.customers.get(customer_id)
    return page_locale(profile.locale if profile else None, accept)


def _page(locale: str, title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html lang='{html.escape(locale)}'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>",
        status_code=status,
        headers=NO_FRAMING,
    )


def _refused(exc: TokenError | UnknownSurvey, locale: str) -> HTMLResponse:
    expired = isinstance(exc, TokenError) and exc.reason == "expired"
    reason = exc.reason if isinstance(exc, TokenError) else "unknown_survey"
    why = refusal(reason, str(exc), locale)
    return _page(
        locale, texts(locale)["bad"], f"<p>{html.escape(why)}</p>", 410 if expired else 400
    )


def _unavailable(accept: str | None) -> HTMLResponse:
    locale = page_locale(None, accept)
    return _page(locale, texts(locale)["survey.unavailable"], "", 503)


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
def survey_page(
    token: str, support: Support, accept_language: AcceptLanguage = None
) -> HTMLResponse:
    if support.links is None:
        return _unavailable(accept_language)
    locale = _locale(support, token, accept_language)
    try:
        survey = support.survey_for(token)
    except (TokenError, UnknownSurvey) as exc:
        return _refused(exc, locale)
    words = texts(locale)
    if survey.answered_at is not None:
        return _page(locale, words["done"], "", 409)
    return _page(locale, words[f"survey.title.{survey.kind}"], _form(token, survey, words))


@public.post("/s/{token}", include_in_schema=False)
async def answer(
    token: str, request: Request, support: Support, accept_language: AcceptLanguage = None
) -> HTMLResponse:
    if support.links is None:
        return _unavailable(accept_language)
    fields = parse_qs((await request.body()).decode("utf-8", "replace"))
    locale = _locale(support, token, accept_language)
    try:
        survey = support.survey_for(token)
    except (TokenError, UnknownSurvey) as exc:
        return _refused(exc, locale)
    words = texts(locale)
    title = words[f"survey.title.{survey.kind}"]
    comment = fields.get("comment", [""])[0]
    if len(comment) > MAX_COMMENT:
        note = words["long"].format(limit=MAX_COMMENT)
        return _page(locale, title, _form(token, survey, words, note), 422)
    try:
        given = Answer(score=int(fields.get("score", [""])[0]), comment=comment)
        await support.answer(token, given)
    except (ValueError, ValidationError) as exc:
        if isinstance(exc, AlreadyAnswered):
            return _page(locale, words["done"], "", 409)
        note = (
            f"{words['range']} ({exc})" if not isinstance(exc, ValidationError) else words["range"]
        )
        return _page(locale, title, _form(token, survey, words, note), 422)
    return _page(locale, words["thanks"], "")
