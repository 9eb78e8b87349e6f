"""Sign-in, sign-out and the language switch.

Sign-in posts the key in the form body (never in a URL), checked against a one-off token in a
cookie of its own (there is no session yet to hold a CSRF token); success sets the session
cookie (HttpOnly, SameSite=Strict, Secure over HTTPS, path /console) and goes on to `next`.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.console_sessions import ABSOLUTE, SignInRefused
from entrypoints.console.i18n import LOCALES, gettext_for
from entrypoints.console.web import (
    CSRF_FIELD,
    LANGUAGE_COOKIE,
    PREFIX,
    SECURITY_HEADERS,
    SESSION_COOKIE,
    ConsoleError,
    Form,
    SignInNeeded,
    User,
    console_router,
    locale_of,
    render,
    sessions_of,
    signed_in,
)

router = console_router()
PRE_SESSION_COOKIE = "journeys_console_form"


def safe_next(target: str | None) -> str:
    """Only a console path: never another site (`//host`, `https://...`) after sign-in."""
    unsafe = ("\\", "\n", "\r")
    if target and target.startswith(PREFIX + "/") and not any(c in target for c in unsafe):
        return target
    return PREFIX + "/"


def _sign_in_page(
    request: Request, *, next_path: str, problem: str | None = None, status_code: int = 200
) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        None,
        "sign_in.html",
        status_code=status_code,
        next_path=next_path,
        form_token=token,
        problem=problem,
    )
    response.set_cookie(
        PRE_SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=PREFIX,
        max_age=3600,
    )
    return response


@router.get("/sign-in")
def sign_in_form(request: Request, next: str | None = None) -> Response:
    try:
        signed_in(request)
    except SignInNeeded:
        return _sign_in_page(request, next_path=safe_next(next))
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    _ = gettext_for(locale_of(request))
    form = await request.form()
    next_path = safe_next(str(form.get("next") or ""))
    expected = request.cookies.get(PRE_SESSION_COOKIE, "")
    offered = form.get(CSRF_FIELD)
    if (
        not expected
        or not isinstance(offered, str)
        or not hmac.compare_digest(offered.encode("utf-8", "surrogateescape"), expected.encode())
    ):
        return _sign_in_page(
            request,
            next_path=next_path,
            problem=_("The sign-in form had expired; enter your key again."),
            status_code=403,
        )
    key = form.get("key")
    address = request.client.host if request.client else None
    try:
        done = sessions_of(request).sign_in(key.strip() if isinstance(key, str) else "", address)
    except SignInRefused:
        return _sign_in_page(
            request,
            next_path=next_path,
            problem=_("That key is unknown or has been revoked."),
            status_code=401,
        )
    response = RedirectResponse(next_path, status_code=303, headers=SECURITY_HEADERS)
    response.set_cookie(
        SESSION_COOKIE,
        done.token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=PREFIX,
        max_age=int(ABSOLUTE.total_seconds()),
    )
    response.delete_cookie(PRE_SESSION_COOKIE, path=PREFIX)
    return response


@router.post("/sign-out")
def sign_out(request: Request, user: User, form: Form) -> Response:
    sessions_of(request).sign_out(user.signed_in)
    response = RedirectResponse(f"{PREFIX}/sign-in", status_code=303, headers=SECURITY_HEADERS)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


@router.get("/language")
def language(request: Request, lang: str, next: str | None = None) -> Response:
    """Switch the console's language (a preference cookie only; nothing else changes)."""
    if lang not in LOCALES:
        _ = gettext_for(locale_of(request))
        raise ConsoleError(400, _("There is no console language {lang}.").format(lang=lang))
    response = RedirectResponse(safe_next(next), status_code=303, headers=SECURITY_HEADERS)
    response.set_cookie(
        LANGUAGE_COOKIE,
        lang,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=PREFIX,
        max_age=365 * 24 * 3600,
    )
    return response
