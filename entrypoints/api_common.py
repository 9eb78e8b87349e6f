"""What every HTTP router shares: keys resolved to a role, the permission each endpoint
declares, per-key rate limits, the service dependency, errors.

api.py assembles the app; routers for other concerns live in their own api_*.py modules, take
`protected_router()` (or a plain APIRouter for public pages) and are included by create_app.

Errors have one shape each: `{"detail": "<why>"}` (ErrorDetail) for every 4xx/5xx the API
decides, and FastAPI's `{"detail": [{"loc", "msg", "type"}, ...]}` (HTTPValidationError) for
every 422, whether the body's syntax, a field or a rule across fields is what is wrong.
"""

from __future__ import annotations

import email.message
import json
import math
import time
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, Security, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from app.audit import Auditor, acting_as
from app.journeys import JourneyService
from app.keys import KeyService
from domain.audit import Actor
from domain.limits import MAX_NESTING_DEPTH
from domain.roles import allows, roles_for

API_KEY_HEADER = "X-API-Key"
CHALLENGE = 'Bearer realm="journeys", ApiKey realm="journeys" header="X-API-Key"'


class ErrorDetail(BaseModel):
    """The body of every 4xx/5xx the API itself decides (422 carries a list instead)."""

    detail: str


class ConflictDetail(ErrorDetail):
    """409 for an event id already logged with another body: which field differs."""

    event_id: str
    field: str


class ErasedDetail(ErrorDetail):
    """409 for an event, upsert or enrollment of an erased customer: who, and since when."""

    customer_id: str
    erased_at: datetime | None = Field(
        description="When the customer was erased; null while the erasure is unfinished."
    )
    started_at: datetime


# --- authentication and roles ----------------------------------------------------------------

_api_key = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, scheme_name="ApiKey", description="The API key."
)
_bearer = HTTPBearer(
    auto_error=False, scheme_name="Bearer", description="The API key as a bearer token."
)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": CHALLENGE}
    )


def keys_of(request: Request) -> KeyService:
    """The app's key service: the bootstrap key (JOURNEYS_API_KEY) and the stored keys."""
    state = request.app.state
    keys: KeyService | None = getattr(state, "keys", None)
    if keys is None:
        keys = KeyService(auditor_of(request), state.api_key.decode())
        state.keys = keys
    return keys


def auditor_of(request: Request) -> Auditor:
    state = request.app.state
    auditor: Auditor | None = getattr(state, "auditor", None)
    if auditor is None:
        service: JourneyService = state.service
        auditor = Auditor(service.store, service.clock)
        state.auditor = auditor
    return auditor


def authenticate(request: Request) -> Actor:
    """Who calls: the key (X-API-Key or a bearer token) resolved to its name and role.

    401 for no key, or a key that is unknown or revoked. Resolved once per request."""
    known: Actor | None = getattr(request.state, "actor", None)
    if known is not None:
        return known
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    bearer = credentials.strip() if scheme.lower() == "bearer" else None
    offered = [value for value in (request.headers.get(API_KEY_HEADER), bearer) if value]
    if not offered:
        raise _unauthorized(
            f"missing API key: send {API_KEY_HEADER}: <key> or Authorization: Bearer <key>"
        )
    found = keys_of(request).resolve(offered)
    if found is None:
        raise _unauthorized("invalid API key: unknown or revoked key")
    name, role = found
    actor = Actor(name=name, role=role, address=request.client.host if request.client else None)
    request.state.actor = actor
    acting_as(actor)
    return actor


def authorize(actor: Actor, permission: str) -> None:
    """403 naming the roles that may, unless `actor`'s role holds `permission`."""
    if not allows(actor.role, permission):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"key {actor.name!r} has role {actor.role!r}; this needs role "
            f"{' or '.join(roles_for(permission))} ({permission})",
        )


def require_api_key(
    request: Request,
    key: Annotated[str | None, Security(_api_key)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Actor:
    """The caller as a dependency: documents both schemes in OpenAPI; GuardedRoute has
    already resolved the key before the body was read."""
    return authenticate(request)


class Requires:
    """The dependency an endpoint declares: `dependencies=[requires("cases:write")]`."""

    def __init__(self, permission: str) -> None:
        roles_for(permission)  # an unknown permission fails at import, not per request
        self.permission = permission

    def __call__(self, actor: Annotated[Actor, Depends(require_api_key)]) -> Actor:
        authorize(actor, self.permission)
        return actor


def requires(permission: str) -> Any:
    """Declare the permission (domain/roles.py) an endpoint needs."""
    return Depends(Requires(permission))


# The actor of a request whose endpoint declared its permission.
Caller = Annotated[Actor, Depends(require_api_key)]


def declared_permission(dependencies: Sequence[Any]) -> str | None:
    for dependency in dependencies:
        if isinstance(getattr(dependency, "dependency", None), Requires):
            return str(dependency.dependency.permission)
    return None


# --- rate limits ----------------------------------------------------------------------------


class RateLimiter:
    """A token bucket per key name, held in this API process's memory: each API process (behind
    a load balancer) counts on its own, and a restart refills every bucket.

    A key may spend a minute's allowance at once, then one request per 60/limit seconds.
    `per_minute` 0 turns the limit off; `ingest` keys are limited by `ingest_per_minute`
    alone, and not at all when it is None.
    """

    def __init__(
        self,
        per_minute: int,
        ingest_per_minute: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute = per_minute
        self.ingest_per_minute = ingest_per_minute
        self._clock = clock
        # key name -> (tokens left, when last counted); the event loop is the only writer.
        self._buckets: dict[str, tuple[float, float]] = {}

    def limit_for(self, role: str) -> int:
        if role == "ingest":
            return self.ingest_per_minute or 0
        return self.per_minute

    def retry_after(self, actor: Actor) -> int | None:
        """Take one request from `actor`'s bucket: None if allowed, else seconds to wait."""
        limit = self.limit_for(actor.role)
        if limit <= 0:
            return None
        now = self._clock()
        rate = limit / 60.0
        tokens, then = self._buckets.get(actor.name, (float(limit), now))
        tokens = min(float(limit), tokens + (now - then) * rate)
        if tokens >= 1.0:
            self._buckets[actor.name] = (tokens - 1.0, now)
            return None
        self._buckets[actor.name] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / rate))


def check_rate(request: Request, actor: Actor) -> None:
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        return
    wait = limiter.retry_after(actor)
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"key {actor.name!r} is over its limit of {limiter.limit_for(actor.role)} requests "
            f"a minute (JOURNEYS_RATE_LIMIT_PER_MINUTE); retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )


def get_service(request: Request) -> JourneyService:
    service: JourneyService = request.app.state.service
    return service


Service = Annotated[JourneyService, Depends(get_service)]


# --- bodies --------------------------------------------------------------------------------

# A body may wrap the deepest field it holds (attributes, properties) in a few levels of its
# own ({"events": [{"properties": ...}]}); the fields' own validators apply the exact limit.
MAX_BODY_DEPTH = MAX_NESTING_DEPTH + 4


def _json_content(request: Request) -> bool:
    # The same test FastAPI applies before it parses a body as JSON.
    content_type = request.headers.get("content-type")
    if not content_type:
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _body_problem(value: Any) -> tuple[list[str | int], str] | None:
    """Where and why a parsed body is refused before validation, or None."""
    stack: list[tuple[Any, list[str | int]]] = [(value, ["body"])]
    while stack:
        node, loc = stack.pop()
        if isinstance(node, str):
            if not _is_text(node):
                return loc, "a string that is not valid Unicode text (a lone surrogate?)"
        elif isinstance(node, dict | list):
            if len(loc) > MAX_BODY_DEPTH:
                return loc[:MAX_BODY_DEPTH], (
                    f"the body nests more than {MAX_NESTING_DEPTH} levels deep; flatten it"
                )
            if isinstance(node, dict):
                for key, child in node.items():
                    if not _is_text(key):
                        return loc, "a key that is not valid Unicode text (a lone surrogate?)"
                    stack.append((child, [*loc, key]))
            else:
                stack.extend((child, [*loc, i]) for i, child in enumerate(node))
    return None


def _is_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def check_body(request: Request) -> None:
    """Refuse, as 422, a JSON body that is not UTF-8, not JSON, too deep or not valid text.

    FastAPI answers an undecodable or too deeply nested body with an undocumented 400; here
    it is parsed first (the parse is cached on the request, so FastAPI does not redo it).
    """
    if not _json_content(request):
        return
    raw = await request.body()
    if not raw:
        return
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid(
            ("body",), f"the body is not UTF-8 text (byte {exc.start})", None, "json_invalid"
        ) from exc
    try:
        parsed = await request.json()
    except json.JSONDecodeError as exc:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", exc.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": exc.msg},
                }
            ]
        ) from exc
    except RecursionError as exc:
        raise invalid(
            ("body",),
            f"the body nests more than {MAX_NESTING_DEPTH} levels deep; flatten it",
            None,
            "json_invalid",
        ) from exc
    problem = _body_problem(parsed)
    if problem is not None:
        loc, message = problem
        raise invalid(tuple(loc), message, None)


class GuardedRoute(APIRoute):
    """A protected endpoint: the key is resolved and its role checked against the permission
    the endpoint declares (`requires`) before the body is read (a malformed body without a
    key is 401, not 422), then the key's rate is counted, then the body is checked as
    `check_body` says. An endpoint that declares no permission is for admins only."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        self.permission = declared_permission(kwargs.get("dependencies") or [])
        roles = roles_for(self.permission or "keys:admin")
        kwargs["responses"] = {
            **(kwargs.get("responses") or {}),
            403: {
                "model": ErrorDetail,
                "description": f"The key's role may not do this: it needs {' or '.join(roles)}.",
            },
        }
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        has_body = self.body_field is not None
        permission = self.permission or "keys:admin"

        async def guarded(request: Request) -> Response:
            actor = authenticate(request)
            authorize(actor, permission)
            check_rate(request, actor)
            if has_body:
                await check_body(request)
            return await handler(request)

        return guarded


def protected_router(**kwargs: Any) -> APIRouter:
    """A router whose every endpoint needs a key; each declares its permission (`requires`)."""
    return APIRouter(
        dependencies=[Depends(require_api_key)],
        responses={**UNAUTHORIZED, **TOO_LARGE, **RATE_LIMITED},
        route_class=GuardedRoute,
        **kwargs,
    )


# --- errors --------------------------------------------------------------------------------


def invalid(
    loc: tuple[str | int, ...], message: str, value: Any, kind: str = "value_error"
) -> RequestValidationError:
    """A 422 in the one validation shape, for rules a field's own type cannot say."""
    return RequestValidationError([{"type": kind, "loc": loc, "msg": message, "input": value}])


def _safe(value: Any) -> Any:
    """A small JSON scalar, as an error may echo it; None when it is anything else."""
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, str):
        text = value if len(value) <= 200 else value[:200] + "..."
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return None


def _text(value: Any) -> str:
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")


async def validation_failed(_request: Request, exc: Exception) -> JSONResponse:
    """Every 422: FastAPI's list shape, with inputs echoed only when small and printable
    (a lone surrogate or a 500-deep object in the answer would turn it into a 500)."""
    assert isinstance(exc, RequestValidationError)
    detail: list[dict[str, Any]] = []
    for error in exc.errors():
        item: dict[str, Any] = {
            "loc": [part if isinstance(part, int) else _text(part) for part in error["loc"]],
            "msg": _text(error.get("msg", "")),
            "type": _text(error.get("type", "value_error")),
        }
        echoed = _safe(error.get("input"))
        if echoed is not None:
            item["input"] = echoed
        ctx = error.get("ctx")
        if isinstance(ctx, dict):
            item["ctx"] = {_text(key): _text(value) for key, value in ctx.items()}
        detail.append(item)
    return JSONResponse({"detail": detail}, status_code=422)


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorDetail, "description": "Not found."}
}
UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorDetail, "description": "Missing API key, or one unknown or revoked."}
}
RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {
        "model": ErrorDetail,
        "description": "The key is over its requests a minute (JOURNEYS_RATE_LIMIT_PER_MINUTE).",
        "headers": {
            "Retry-After": {
                "description": "Seconds until the key may send again.",
                "schema": {"type": "integer"},
            }
        },
    }
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ConflictDetail | ErasedDetail,
        "description": "The event id was already sent with another body (`field` differs), "
        "or the customer was erased (`erased_at` says when).",
    }
}
ERASED: dict[int | str, dict[str, Any]] = {
    409: {"model": ErasedDetail, "description": "The customer was erased."}
}
TOO_LARGE: dict[int | str, dict[str, Any]] = {
    413: {
        "model": ErrorDetail,
        "description": "The body is larger than JOURNEYS_MAX_REQUEST_BYTES; nothing was done.",
    }
}
TEMPORAL: dict[int | str, dict[str, Any]] = {
    502: {"model": ErrorDetail, "description": "Temporal refused the call."},
    503: {"model": ErrorDetail, "description": "Temporal is unreachable; retry the request."},
}
