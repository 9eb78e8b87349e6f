"""What every HTTP router shares: API-key authentication, the service dependency, errors.

api.py assembles the app; routers for other concerns live in their own api_*.py modules, take
`protected_router()` (or a plain APIRouter for public pages) and are included by create_app.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Security, status
from fastapi.exceptions import RequestValidationError
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from app.journeys import JourneyService

API_KEY_HEADER = "X-API-Key"
CHALLENGE = 'Bearer realm="journeys", ApiKey realm="journeys" header="X-API-Key"'


class ErrorDetail(BaseModel):
    """The body of every 4xx/5xx the API itself decides (422 carries a list instead)."""

    detail: str


# --- authentication ------------------------------------------------------------------------

_api_key = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, scheme_name="ApiKey", description="The API key."
)
_bearer = HTTPBearer(
    auto_error=False, scheme_name="Bearer", description="The API key as a bearer token."
)


def require_api_key(
    request: Request,
    key: Annotated[str | None, Security(_api_key)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    offered = [value for value in (key, bearer.credentials if bearer else None) if value]
    if not offered:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"missing API key: send {API_KEY_HEADER}: <key> or Authorization: Bearer <key>",
            headers={"WWW-Authenticate": CHALLENGE},
        )
    expected: bytes = request.app.state.api_key
    # Every offered key is compared, in constant time, so timing reveals nothing.
    matches = [hmac.compare_digest(value.encode(), expected) for value in offered]
    if not any(matches):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid API key",
            headers={"WWW-Authenticate": CHALLENGE},
        )


def get_service(request: Request) -> JourneyService:
    service: JourneyService = request.app.state.service
    return service


Service = Annotated[JourneyService, Depends(get_service)]


def protected_router(**kwargs: Any) -> APIRouter:
    """A router whose every endpoint needs the API key."""
    return APIRouter(dependencies=[Depends(require_api_key)], responses=UNAUTHORIZED, **kwargs)


def invalid(loc: tuple[str, ...], message: str, value: Any) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": loc, "msg": message, "input": value}]
    )


NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorDetail}}
UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorDetail, "description": "Missing or wrong API key."}
}
TEMPORAL: dict[int | str, dict[str, Any]] = {
    502: {"model": ErrorDetail, "description": "Temporal refused the call."},
    503: {"model": ErrorDetail, "description": "Temporal is unreachable; retry the request."},
}
