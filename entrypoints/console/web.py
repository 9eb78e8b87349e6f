"""What every console page shares: the signed-in user, rendering, forms, errors and cursors.

Pages are FastAPI routes on a `console_router()`. A handler takes `user: User` (the session's
key name and role, its language and formats; a visitor without a session is sent to sign-in)
and, for a form, `form: Form` (CSRF checked first: nothing runs on a stale or forged form).
It calls the app's services and renders a template with `render`; it raises `ConsoleError`
for a refusal, which the route turns into the layout's error page with that status. A role
check is `require(user, "journeys:write")` in the handler and `can("journeys:write")` in the
template: both ask domain/roles.py, the one home of that rule.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Request, Response
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute, APIRouter
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.datastructures import FormData
from temporalio.service import RPCError

from app.audit import acting, acting_as
from app.cases import CaseRefused, UnknownCase
from app.console_sessions import ConsoleSessions, SignedIn
from app.journeys import JourneyPaused
from app.keys import KeyService
from domain.audit import Actor
from domain.cases import CaseRuleError
from domain.privacy import CustomerErased
from domain.roles import allows, roles_for
from entrypoints.console.i18n import (
    LOCALES,
    ConsoleLocale,
    Formats,
    gettext_for,
    negotiate,
    translations,
)
from store.callbacks import CallbackRefused, UnknownCallback
from store.errors import UnknownCustomer, UnknownEnrollment, UnknownJourney, UnknownMessage

PREFIX = "/console"
SESSION_COOKIE = "journeys_console"
LANGUAGE_COOKIE = "journeys_lang"
CSRF_FIELD = "csrf_token"
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

# Pages are the project's own: scripts and styles from this server only, nothing framed
# but the console's own sandboxed previews, no form posting elsewhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class ConsoleError(Exception):
    """A refusal shown as a page: `message` (already in the user's language) and a status."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


class SignInNeeded(Exception):
    """No live session: a page view goes to sign-in and comes back; a form post is refused."""


@dataclass(frozen=True)
class ConsoleUser:
    signed_in: SignedIn
    locale: ConsoleLocale
    formats: Formats
    path: str

    @property
    def actor(self) -> Actor:
        return self.signed_in.actor

    @property
    def name(self) -> str:
        return self.signed_in.session.key_name

    @property
    def role(self) -> str:
        return self.signed_in.session.role

    @property
    def csrf(self) -> str:
        return self.signed_in.session.csrf_token

    def can(self, permission: str) -> bool:
        return allows(self.role, permission)

    def gettext(self, message: str) -> str:
        return gettext_for(self.locale)(message)


# --- services and the session -------------------------------------------------------------


def sessions_of(request: Request) -> ConsoleSessions:
    state = request.app.state
    found: ConsoleSessions | None = getattr(state, "console_sessions", None)
    if found is None:
        from entrypoints.api_common import keys_of

        keys: KeyService = keys_of(request)
        found = ConsoleSessions(keys)
        state.console_sessions = found
    return found


def locale_of(request: Request) -> ConsoleLocale:
    return negotiate(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))


def workspace_timezone(request: Request) -> str:
    return str(getattr(request.app.state, "workspace_timezone", "UTC"))


def signed_in(request: Request) -> ConsoleUser:
    """The signed-in user; SignInNeeded without a live session."""
    known: ConsoleUser | None = getattr(request.state, "console_user", None)
    if known is not None:
        return known
    found = sessions_of(request).current(request.cookies.get(SESSION_COOKIE, ""))
    if found is None:
        raise SignInNeeded()
    address = request.client.host if request.client else None
    actor_session = found.session.model_copy(update={"address": address})
    found = SignedIn(found.token, actor_session)
    locale = locale_of(request)
    user = ConsoleUser(
        signed_in=found,
        locale=locale,
        formats=Formats(locale, workspace_timezone(request)),
        path=request.url.path,
    )
    request.state.console_user = user
    return user


async def _signed_in_here(request: Request) -> ConsoleUser:
    """`signed_in` as a dependency, run on the request's own task (not a worker thread), where
    it makes the user the actor the handler's services audit."""
    user = signed_in(request)
    acting_as(user.actor)
    return user


User = Annotated[ConsoleUser, Depends(_signed_in_here)]


async def checked_form(request: Request, user: User) -> FormData:
    """The posted form, once its CSRF token matches the session's; 403 and nothing done else."""
    form = await request.form()
    offered = form.get(CSRF_FIELD)
    if not isinstance(offered, str) or not hmac.compare_digest(
        offered.encode("utf-8", "surrogateescape"), user.csrf.encode()
    ):
        raise ConsoleError(
            403,
            user.gettext(
                "This form has expired or did not come from the console (the security token "
                "did not match), so nothing was changed. Reload the page and try again."
            ),
        )
    return form


Form = Annotated[FormData, Depends(checked_form)]


def require(user: ConsoleUser, permission: str) -> None:
    """ConsoleError 403 naming the roles that may, unless the user's role may."""
    if not user.can(permission):
        roles = " / ".join(roles_for(permission))
        raise ConsoleError(
            403,
            user.gettext("Your key's role ({role}) may not do this; it needs {roles}.").format(
                role=user.role, roles=roles
            ),
        )


def field(form: FormData, name: str, user: ConsoleUser, *, required: bool = True) -> str:
    """A text field of `form`, stripped; ConsoleError 400 naming it when required and empty."""
    value = form.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        raise ConsoleError(400, user.gettext("Fill in the field “{field}”.").format(field=name))
    return text


# --- cursors ------------------------------------------------------------------------------


def encode_cursor(values: Mapping[str, Any]) -> str:
    """An opaque page cursor for a keyset page (`values` are the last row's sort keys)."""
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str | None, user: ConsoleUser, keys: tuple[str, ...]) -> dict[str, Any]:
    """The values of a cursor made by `encode_cursor` with exactly `keys`; {} for no cursor.

    A cursor that is not one (typed or cut by hand, or from another list) is a 400 page."""
    if not text:
        return {}
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, dict) or set(values) != set(keys):
        raise ConsoleError(
            400,
            user.gettext(
                "This page link is not valid (its cursor was changed or cut); "
                "go back to the first page."
            ),
        )
    return values


# --- rendering ----------------------------------------------------------------------------


def _environment(locale: ConsoleLocale) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.globals["LOCALES"] = LOCALES
    env.globals["PREFIX"] = PREFIX
    env.filters["urlquote"] = lambda value: quote(str(value), safe="")
    return env


_ENVIRONMENTS = {locale: _environment(locale) for locale in LOCALES}


def render(
    request: Request,
    user: ConsoleUser | None,
    template: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """`template` in the user's language (or the browser's, before sign-in)."""
    locale = user.locale if user else locale_of(request)
    formats = user.formats if user else Formats(locale, workspace_timezone(request))
    env = _ENVIRONMENTS[locale]
    html = env.get_template(template).render(
        request=request,
        user=user,
        locale=locale,
        fmt=formats,
        can=user.can if user else (lambda _permission: False),
        notice=notice_of(request),
        here=_here(request),
        csrf_field=Markup('<input type="hidden" name="{}" value="{}">').format(
            CSRF_FIELD, user.csrf if user else ""
        ),
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


# Notices ride in the next page's URL, signed: only the console's own redirects show text
# there (a crafted link cannot put words into the page). The key is this process's: behind
# several API hosts, a notice that lands on another host is simply not shown.
_NOTICE_KEY = secrets.token_bytes(32)
NOTICE_SIGNATURE = "notice_sig"


def _notice_signature(text: str) -> str:
    digest = hmac.new(_NOTICE_KEY, text.encode("utf-8", "surrogateescape"), hashlib.sha256)
    return digest.hexdigest()[:32]


def redirect(path: str, *, notice: str | None = None) -> RedirectResponse:
    """303 to `path` (after a form), optionally with a notice the next page shows."""
    target = path
    if notice:
        query = urlencode({"notice": notice, NOTICE_SIGNATURE: _notice_signature(notice)})
        target = f"{path}{'&' if '?' in path else '?'}{query}"
    return RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)


def _here(request: Request) -> str:
    """This page's path and query without its notice (the language switch comes back here;
    the notice was written in the language being left)."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in _NOTICE_PARAMS]
    return request.url.path + (f"?{urlencode(kept)}" if kept else "")


_NOTICE_PARAMS = ("notice", NOTICE_SIGNATURE)


def notice_of(request: Request) -> str | None:
    """The notice a console redirect put in this page's URL; None for none or a forged one."""
    text = request.query_params.get("notice")
    signature = request.query_params.get(NOTICE_SIGNATURE, "")
    if text and hmac.compare_digest(signature.encode(), _notice_signature(text).encode()):
        return text
    return None


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    user: ConsoleUser | None = getattr(request.state, "console_user", None)
    return render(request, user, "error.html", status_code=status_code, message=message)


def _gettext(request: Request) -> Callable[[str], str]:
    return gettext_for(locale_of(request))


def _not_found(request: Request, error: Exception) -> str:
    _ = _gettext(request)
    messages = {
        UnknownCustomer: _("There is no such customer."),
        UnknownJourney: _("There is no such journey or version."),
        UnknownEnrollment: _("There is no such run."),
        UnknownMessage: _("There is no such message."),
        UnknownCase: _("There is no such case."),
        UnknownCallback: _("There is no such callback task."),
    }
    for kind, text in messages.items():
        if isinstance(error, kind):
            return f"{text} ({error})"
    return _("Not found.")


def handle_error(request: Request, error: Exception) -> Response:
    """The page for an error a console handler raised, or re-raise one it does not know."""
    _ = _gettext(request)
    if isinstance(error, SignInNeeded):
        if request.method in ("GET", "HEAD"):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(
                f"{PREFIX}/sign-in?next={quote(target, safe='')}", status_code=303
            )
        return error_page(
            request,
            401,
            _("Your session has ended, so nothing was changed. Sign in again and retry."),
        )
    if isinstance(error, ConsoleError):
        return error_page(request, error.status_code, error.message)
    if isinstance(
        error,
        UnknownCustomer
        | UnknownJourney
        | UnknownEnrollment
        | UnknownMessage
        | UnknownCase
        | UnknownCallback,
    ):
        return error_page(request, 404, _not_found(request, error))
    if isinstance(error, JourneyPaused):
        return error_page(request, 409, _("The journey is paused: {error}").format(error=error))
    if isinstance(error, CaseRefused | CaseRuleError | CallbackRefused):
        return error_page(request, 409, _("Refused: {error}").format(error=error))
    if isinstance(error, CustomerErased):
        return error_page(request, 410, _("This customer has been erased."))
    if isinstance(error, RequestValidationError):
        names = ", ".join(
            str(part) for issue in error.errors() for part in issue.get("loc", ())[-1:]
        )
        return error_page(
            request, 400, _("Some input is not valid: {fields}.").format(fields=names)
        )
    if isinstance(error, HTTPException):
        return error_page(request, error.status_code, str(error.detail))
    if isinstance(error, RPCError):
        return error_page(
            request,
            503,
            _("Temporal cannot be reached just now, so nothing was changed; try again."),
        )
    raise error


class ConsoleRoute(APIRoute):
    """A console page: known errors become pages in the layout, with the security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            before = acting()
            try:
                response = await handler(request)
            except Exception as error:  # handle_error re-raises what it does not know
                return handle_error(request, error)
            finally:
                # The signed-in key acts for this request only: an in-process client (as the
                # tests use) runs the request in its caller's task, which must not keep it.
                acting_as(before)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return page


def console_router() -> APIRouter:
    """A router for console pages (kept out of the API's OpenAPI document)."""
    return APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
