"""Who may do what: the five roles an API key carries and the permission each role grants.

Every protected endpoint declares one permission (`area:access`); `allows` is the only rule
that decides whether a role holds it. `admin` holds every permission, including those no
other role has (keys, the audit log, erasure).
"""

from __future__ import annotations

import re
from typing import Literal, get_args

Role = Literal["admin", "ops", "support", "viewer", "ingest"]
ROLES: tuple[Role, ...] = get_args(Role)

ROLE_HELP: dict[Role, str] = {
    "admin": "everything, including keys, the audit log and erasure",
    "ops": "journeys, segments, audiences, reports and runs; reads everything a viewer reads",
    "support": "customers, timelines, cases, callbacks, consent, enrollments and exports; "
    "reads everything a viewer reads but the metrics",
    "viewer": "read only: every GET but the admin ones, /metrics included",
    "ingest": "for integrations: POST /events, /events/batch and customer upserts only",
}

# Roles that read what a viewer reads (every GET but the admin ones).
_READERS: tuple[Role, ...] = ("viewer", "ops", "support")

# permission -> the roles beside admin that hold it.
PERMISSIONS: dict[str, tuple[Role, ...]] = {
    "customers:read": _READERS,
    "customers:write": ("support", "ingest"),
    "customers:export": ("support",),
    "customers:erase": (),
    "events:read": _READERS,
    "events:write": ("ingest",),
    "journeys:read": _READERS,
    "journeys:write": ("ops",),
    "enroll": ("support", "ops"),
    "segments:write": ("ops",),
    "audiences:write": ("ops",),
    "runs:read": _READERS,
    "runs:write": ("ops",),
    "reports:read": _READERS,
    "messages:read": _READERS,
    "messages:write": ("ops",),
    "consent:write": ("support",),
    "cases:read": _READERS,
    "cases:write": ("support",),
    "callbacks:read": _READERS,
    "callbacks:write": ("support",),
    "keys:admin": (),
    "audit:read": (),
    # GET /metrics (unless JOURNEYS_METRICS_PUBLIC): for dashboards and scrapers, not support.
    "metrics:read": ("ops", "viewer"),
}


class UnknownPermission(ValueError):
    """A permission name this module does not define (a typo in an endpoint's declaration)."""


def roles_for(permission: str) -> tuple[Role, ...]:
    """Every role that holds `permission`, admin first."""
    try:
        others = PERMISSIONS[permission]
    except KeyError:
        raise UnknownPermission(f"no permission {permission!r}") from None
    return ("admin", *others)


def allows(role: str, permission: str) -> bool:
    """Whether a key of `role` may do what `permission` names."""
    return role in roles_for(permission)


def parse_role(text: str) -> Role:
    """`text` as a role, or ValueError naming the roles there are."""
    for role in ROLES:
        if role == text:
            return role
    raise ValueError(f"unknown role {text!r}: choose one of {', '.join(ROLES)}")


KEY_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


def check_key_name(name: str) -> str:
    """`name` if it may name a key (letters, digits, `.`, `_`, `-`; at most 64), else
    ValueError saying so."""
    if not re.fullmatch(KEY_NAME_PATTERN, name):
        raise ValueError(
            f"key name {name!r} is not allowed: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name
