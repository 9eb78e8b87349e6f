"""The customer profile: identity, contact points, timezone, locale, attributes, consent."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    WithJsonSchema,
)

from domain.limits import MAX_CUSTOMER_ID, MAX_NESTING_DEPTH
from domain.timezones import check_timezone, timezone_names

CustomerId = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=MAX_CUSTOMER_ID, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$"
    ),
]

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def _check_e164(value: str | None) -> str | None:
    if value is not None and not _E164.match(value):
        raise ValueError(f"phone {value!r} is not in E.164 form (e.g. +4915112345678)")
    return value


def check_json_tree(value: Any, what: str) -> Any:
    """`value` (parsed JSON) if it nests at most MAX_NESTING_DEPTH containers deep and every
    string and key in it is valid Unicode text; ValueError naming `what` otherwise.

    Walks with an explicit stack: a tree too deep for recursion is refused, not a crash.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            _check_text(node, what)
        elif isinstance(node, dict | list | tuple):
            if depth + 1 > MAX_NESTING_DEPTH:
                raise ValueError(
                    f"{what} nest more than {MAX_NESTING_DEPTH} levels deep; flatten them"
                )
            if isinstance(node, dict):
                for key, child in node.items():
                    if isinstance(key, str):
                        _check_text(key, what)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in node)
    return value


def _check_text(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{what} hold a string that is not valid Unicode text (a lone surrogate "
            f"such as \\ud800 at position {exc.start})"
        ) from exc


def _plain_text(value: Any) -> Any:
    if isinstance(value, str):
        _check_text(value, "strings")
    return value


def _check_timezone(value: str) -> str:
    return check_timezone(value)


Phone = Annotated[
    str | None,
    AfterValidator(_check_e164),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": _E164.pattern}, {"type": "null"}]}),
]
Timezone = Annotated[
    str,
    AfterValidator(_check_timezone),
    WithJsonSchema({"type": "string", "enum": list(timezone_names())}),
]
# A customer's attributes: a JSON object, bounded in depth, of valid text.
Attributes = Annotated[
    dict[str, Any], BeforeValidator(lambda value: check_json_tree(value, "attributes"))
]
Tag = Annotated[str, BeforeValidator(_plain_text)]
Locale = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]


class Consent(BaseModel):
    """Per-channel subscription state; transactional messages ignore it, marketing obeys it."""

    model_config = ConfigDict(extra="forbid")

    # Strict: `0` or `"no"` is no answer to "subscribed?", only true and false are.
    email: bool = Field(default=True, strict=True)
    sms: bool = Field(default=True, strict=True)
    webhook: bool = Field(default=True, strict=True)


class CustomerUpsert(BaseModel):
    """What a caller sends to create a customer or change some of its fields.

    Fields left out (None) keep their stored value; attributes are merged key by key.
    """

    model_config = ConfigDict(extra="forbid")

    customer_id: CustomerId
    email: EmailStr | None = None
    phone: Phone = None
    timezone: Timezone | None = None
    locale: Locale | None = None
    attributes: Attributes | None = None
    tags: list[Tag] | None = None
    consent: Consent | None = None


class CustomerProfile(BaseModel):
    """A customer as journeys see it."""

    customer_id: CustomerId
    email: str | None = None
    phone: str | None = None
    timezone: str = "UTC"
    locale: str = "en"
    attributes: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    consent: Consent = Field(default_factory=Consent)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    metrics: dict[str, Any] | None = Field(
        default=None,
        description="The customer_metrics projection (tier, stage, RFM...) when a run loads "
        "the profile; journeys read it as `profile.metrics.tier`.",
    )

    def merged(self, change: CustomerUpsert) -> CustomerProfile:
        """The profile after applying an upsert (pure; timestamps are the caller's)."""
        data = self.model_dump()
        for field in ("email", "phone", "timezone", "locale", "tags"):
            value = getattr(change, field)
            if value is not None:
                data[field] = value
        if change.consent is not None:
            data["consent"] = change.consent.model_dump()
        if change.attributes is not None:
            data["attributes"] = {**self.attributes, **change.attributes}
        return CustomerProfile.model_validate(data)

    def template_context(self) -> dict[str, Any]:
        """The profile as templates and conditions see it (`profile.email`, `profile.plan`)."""
        return {
            **self.attributes,
            "customer_id": self.customer_id,
            "email": self.email,
            "phone": self.phone,
            "timezone": self.timezone,
            "locale": self.locale,
            "tags": list(self.tags),
            "metrics": dict(self.metrics or {}),
        }
