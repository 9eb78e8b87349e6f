"""HTTP: API keys for admins. POST /keys shows the new key once; GET /keys lists them (never
the keys themselves); DELETE /keys/{name} revokes one (its name stays taken)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field

from app.keys import CreatedKey, KeyService
from domain.roles import KEY_NAME_PATTERN, Role
from entrypoints.api_common import (
    NOT_FOUND,
    Caller,
    ErrorDetail,
    keys_of,
    protected_router,
    requires,
)
from store.keys import ApiKey, KeyNameTaken, UnknownKey

router = protected_router(tags=["keys"])


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=KEY_NAME_PATTERN, description="Who or what uses the key.")
    role: Role


Keys = Annotated[KeyService, Depends(keys_of)]


@router.post(
    "/keys",
    dependencies=[requires("keys:admin")],
    status_code=201,
    response_model=CreatedKey,
    responses={409: {"model": ErrorDetail, "description": "A key has (or had) this name."}},
    summary="Create a key; the answer holds it, the only time it is shown",
)
def create_key(body: KeyRequest, keys: Keys, caller: Caller) -> CreatedKey:
    try:
        return keys.create(body.name, body.role, caller)
    except KeyNameTaken as exc:
        raise HTTPException(409, str(exc)) from exc


@router.get("/keys", dependencies=[requires("keys:admin")], response_model=list[ApiKey])
def list_keys(keys: Keys) -> list[ApiKey]:
    """Every key ever created, revoked ones too; never the keys themselves."""
    return keys.all()


@router.delete(
    "/keys/{name}",
    dependencies=[requires("keys:admin")],
    response_model=ApiKey,
    responses=NOT_FOUND,
    summary="Revoke a key: it is refused from now on (401)",
)
def revoke_key(name: Annotated[str, Path(max_length=64)], keys: Keys, caller: Caller) -> ApiKey:
    try:
        return keys.revoke(name, caller)
    except UnknownKey as exc:
        raise HTTPException(404, str(exc)) from exc
