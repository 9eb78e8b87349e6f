"""Bad input never gets a 5xx: forged tokens with odd characters, timezone names that are
directories, deep nesting, lone surrogates, timestamps outside UTC's range, numbers posing as
timestamps or booleans, bodies that are not UTF-8; errors in one shape; framing refused."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pydantic import ValidationError

from domain.customers import CustomerUpsert
from domain.events import CustomerEvent
from domain.limits import MAX_CUSTOMER_ID, MAX_EVENT_ID, MAX_NESTING_DEPTH
from domain.timezones import check_timezone
from domain.tokens import TokenError, sign, verify
from domain.unsubscribe import UnsubscribeLinks
from entrypoints.api import create_app
from tests.api.conftest import API_KEY, SURVEY_LINKS, Stack, event, new_customer, new_id
from tests.support.follow_up import FORM, surveyed_customer
from workers.settings import Settings

LINKS = UnsubscribeLinks("api-test-link-secret", "http://api")
BAD_TIMEZONES = ["Europe", "America", "A" * 300, "Europe/", "../etc/passwd"]


@pytest_asyncio.fixture
async def site(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The API with unsubscribe, tracking and survey links configured, and the key sent."""
    app = create_app(stack.service, API_KEY, links=LINKS, survey_links=SURVEY_LINKS)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://api", headers={"X-API-Key": API_KEY}
    ) as client:
        yield client


def nested(depth: int) -> dict[str, Any]:
    """A JSON object `depth` objects deep, counting itself."""
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def is_validation_error(response: httpx.Response) -> bool:
    """The one 422 shape: a list of {loc, msg, type}."""
    detail = response.json().get("detail")
    return (
        response.status_code == 422
        and isinstance(detail, list)
        and all({"loc", "msg", "type"} <= set(item) for item in detail)
    )


# --- 1. tokens with characters no token of ours has ----------------------------------------------


def test_a_token_with_a_non_ascii_character_is_malformed_not_a_crash() -> None:
    genuine = sign("s", "unsubscribe", {"c": "ada"}, datetime(2100, 1, 1, tzinfo=UTC))
    for token in ["a.\xe9", "\xe9.abc", genuine + "\xe9", genuine.replace(".", ".\u00a0")]:
        with pytest.raises(TokenError) as refused:
            verify("s", "unsubscribe", token, datetime(2026, 1, 1, tzinfo=UTC))
        assert refused.value.reason == "malformed"


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_the_unsubscribe_page_refuses_a_non_ascii_token_with_a_page(
    site: httpx.AsyncClient, method: str
) -> None:
    response = await site.request(method, "/unsubscribe?token=a.%C3%A9")
    assert response.status_code == 400
    assert "This link cannot be used" in response.text


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_the_survey_page_refuses_a_non_ascii_token_with_a_page(
    site: httpx.AsyncClient, method: str
) -> None:
    response = await site.request(method, "/s/a.%C3%A9", content="score=5", headers=FORM)
    assert response.status_code == 400
    assert "This link cannot be used" in response.text


async def test_a_tracked_link_with_a_non_ascii_token_is_refused(site: httpx.AsyncClient) -> None:
    response = await site.get("/t/c/a.%C3%A9")
    assert response.status_code == 400
    assert "location" not in response.headers


@pytest.mark.parametrize("token", ["a.%C3%A9", "%C3%A9", "a.b", "%FF%FE.x", "x" * 9000])
async def test_the_open_pixel_always_answers_a_gif(site: httpx.AsyncClient, token: str) -> None:
    response = await site.get(f"/t/o/{token}.gif")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.content.startswith(b"GIF89a")


# --- 2. timezone names ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", BAD_TIMEZONES, ids=["Europe", "America", "300", "slash", "dots"])
async def test_a_timezone_that_is_a_directory_or_too_long_is_422(
    api: httpx.AsyncClient, name: str
) -> None:
    response = await api.put(f"/customers/{new_id()}", json={"timezone": name})
    assert is_validation_error(response), response.text
    assert "unknown timezone" in response.text


def test_the_shared_timezone_check_refuses_directories_and_long_names() -> None:
    assert check_timezone("Europe/Berlin") == "Europe/Berlin"
    for name in BAD_TIMEZONES:
        with pytest.raises(ValueError, match="unknown timezone"):
            check_timezone(name)


@pytest.mark.parametrize("name", ["Europe", "A" * 300])
def test_journeys_timezone_refuses_a_directory_naming_the_variable(name: str) -> None:
    with pytest.raises(ValidationError, match="JOURNEYS_TIMEZONE: unknown timezone"):
        Settings(timezone=name)


def test_the_cli_timezone_option_is_checked_by_the_same_model() -> None:
    # `journeys customers upsert --timezone` builds this model and prints its error.
    with pytest.raises(ValidationError, match="unknown timezone 'America'"):
        CustomerUpsert(customer_id="c-1", timezone="America")


# --- 3. nesting, surrogates, timestamps, strict types --------------------------------------------


async def test_attributes_nested_500_deep_are_422(api: httpx.AsyncClient) -> None:
    response = await api.put(f"/customers/{new_id()}", json={"attributes": nested(500)})
    assert is_validation_error(response), response.text
    assert f"more than {MAX_NESTING_DEPTH} levels" in response.text


async def test_attributes_at_the_nesting_limit_are_kept(api: httpx.AsyncClient) -> None:
    customer = new_id()
    response = await api.put(
        f"/customers/{customer}", json={"attributes": nested(MAX_NESTING_DEPTH)}
    )
    assert response.status_code == 200, response.text
    too_deep = await api.put(
        f"/customers/{customer}", json={"attributes": nested(MAX_NESTING_DEPTH + 1)}
    )
    assert is_validation_error(too_deep), too_deep.text


async def test_event_properties_300_deep_are_422_and_nothing_is_stored(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer = await new_customer(api)
    body = event(customer, deep=nested(300))
    response = await api.post("/events", json=body)
    assert is_validation_error(response), response.text
    batch = await api.post("/events/batch", json={"events": [event(customer), body]})
    assert is_validation_error(batch), batch.text
    assert [e for e in stack.store.events.for_customer(customer)] == []


async def test_a_body_nested_beyond_what_json_can_parse_is_422(api: httpx.AsyncClient) -> None:
    deep = b'{"attributes": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = await api.put(
        f"/customers/{new_id()}", content=deep, headers={"Content-Type": "application/json"}
    )
    # A 413 would be fine too, but the body is under the limit only if it is small: send less.
    assert response.status_code in (413, 422), response.text
    small = b'{"attributes": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    response = await api.put(
        f"/customers/{new_id()}", content=small, headers={"Content-Type": "application/json"}
    )
    assert is_validation_error(response), response.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/customers/{customer}", b'{"attributes": {"name": "\\ud800"}}'),
        ("/customers/{customer}", b'{"tags": ["\\udfff"]}'),
        ("/customers/{customer}", b'{"email": "a\\ud800@example.com"}'),
        ("/customers/{customer}/consent", b'{"email": false, "\\ud800": true}'),
        ("/cases", b'{"customer_id": "{customer}", "subject": "\\ud800", "body": "x"}'),
        ("/callbacks/nope/claim", b'{"agent": "\\ud800"}'),
        ("/providers/feedback", b'{"type": "bounce", "recipient": "\\ud800@example.com"}'),
    ],
    ids=["attribute", "tag", "email", "consent-key", "case", "claim", "feedback"],
)
async def test_a_lone_surrogate_anywhere_is_422(
    api: httpx.AsyncClient, path: str, body: bytes
) -> None:
    customer = await new_customer(api)
    method = "PUT" if path.startswith("/customers") else "POST"
    response = await api.request(
        method,
        path.format(customer=customer),
        content=body.replace(b"{customer}", customer.encode()),
        headers={"Content-Type": "application/json"},
    )
    assert is_validation_error(response), response.text


async def test_a_lone_surrogate_in_event_properties_is_422(api: httpx.AsyncClient) -> None:
    customer = await new_customer(api)
    body = json.dumps(event(customer, name="x")).replace('"x"', '"\\ud800"')
    response = await api.post("/events", content=body, headers={"Content-Type": "application/json"})
    assert is_validation_error(response), response.text


def test_the_models_refuse_a_lone_surrogate_when_built_in_python_too() -> None:
    with pytest.raises(ValidationError, match="lone surrogate"):
        CustomerUpsert(customer_id="c-1", attributes={"name": "\ud800"})
    with pytest.raises(ValidationError, match="lone surrogate"):
        CustomerEvent(
            event_id="e-1",
            customer_id="c-1",
            type="x",
            occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
            properties={"\ud800": 1},
        )


@pytest.mark.parametrize("when", ["0001-01-01T00:00+14:00", "9999-12-31T23:59:59-14:00"])
async def test_a_timestamp_outside_utc_s_range_is_422(api: httpx.AsyncClient, when: str) -> None:
    customer = await new_customer(api)
    response = await api.post("/events", json={**event(customer), "occurred_at": when})
    assert is_validation_error(response), response.text
    assert "outside the years 1-9999" in response.text


@pytest.mark.parametrize("when", [0, 1767225600, 1.5, True])
async def test_a_number_is_no_timestamp(api: httpx.AsyncClient, stack: Stack, when: Any) -> None:
    customer = await new_customer(api)
    response = await api.post("/events", json={**event(customer), "occurred_at": when})
    assert is_validation_error(response), response.text
    assert stack.store.events.for_customer(customer) == []


@pytest.mark.parametrize("value", [0, 1, "false", "no", None])
async def test_consent_takes_only_true_or_false(api: httpx.AsyncClient, value: Any) -> None:
    customer = await new_customer(api)
    response = await api.put(f"/customers/{customer}/consent", json={"webhook": value, "sms": 0})
    assert is_validation_error(response), response.text
    profile = await api.put(f"/customers/{customer}", json={"consent": {"webhook": 0}})
    assert is_validation_error(profile), profile.text
    assert (await api.get(f"/customers/{customer}")).json()["consent"]["webhook"] is True


# --- 4. id lengths -------------------------------------------------------------------------------


async def test_ids_longer_than_the_named_limits_are_422(api: httpx.AsyncClient) -> None:
    long_customer = "c" * (MAX_CUSTOMER_ID + 1)
    assert is_validation_error(await api.put(f"/customers/{long_customer}", json={}))
    customer = await new_customer(api)
    long_event = {**event(customer), "event_id": "e" * (MAX_EVENT_ID + 1)}
    assert is_validation_error(await api.post("/events", json=long_event))
    at_limit = {**event(customer), "event_id": "e" * MAX_EVENT_ID}
    assert (await api.post("/events", json=at_limit)).status_code == 202


# --- 5. one error model --------------------------------------------------------------------------


@pytest.mark.parametrize("body", [{}, {"email": None, "sms": None, "webhook": None}])
async def test_consent_without_a_channel_is_a_validation_error_list(
    api: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    customer = await new_customer(api)
    response = await api.put(f"/customers/{customer}/consent", json=body)
    assert is_validation_error(response), response.text
    said = response.json()["detail"][0]["msg"]
    assert "say which channel" in said or "leave a channel out" in said


async def test_feedback_for_a_bad_address_is_a_validation_error_list(
    api: httpx.AsyncClient,
) -> None:
    response = await api.post(
        "/providers/feedback", json={"type": "bounce", "channel": "sms", "recipient": "nope"}
    )
    assert is_validation_error(response), response.text
    assert response.json()["detail"][0]["loc"] == ["body", "recipient"]


JSON_OPERATIONS = [
    ("PUT", "/customers/c-1"),
    ("PUT", "/customers/c-1/consent"),
    ("POST", "/events"),
    ("POST", "/events/batch"),
    ("POST", "/journeys/onboarding/enrollments"),
    ("POST", "/providers/feedback"),
    ("POST", "/cases"),
    ("POST", "/cases/x/assign"),
    ("POST", "/cases/x/notes"),
    ("POST", "/cases/x/respond"),
    ("POST", "/cases/x/resolve"),
    ("POST", "/cases/x/reopen"),
    ("POST", "/callbacks/x/claim"),
    ("POST", "/callbacks/x/complete"),
]


@pytest.mark.parametrize(("method", "path"), JSON_OPERATIONS)
async def test_a_body_that_is_not_utf8_is_a_documented_422(
    api: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await api.request(
        method, path, content=b'{"a": "\xff\xfe"}', headers={"Content-Type": "application/json"}
    )
    assert is_validation_error(response), response.text
    assert response.json()["detail"][0]["type"] == "json_invalid"


@pytest.mark.parametrize(("method", "path"), JSON_OPERATIONS)
@pytest.mark.parametrize("body", [b"\xff\xfe", b"{not json"])
async def test_a_malformed_body_without_a_key_is_401(
    anonymous: httpx.AsyncClient, method: str, path: str, body: bytes
) -> None:
    response = await anonymous.request(
        method, path, content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401, response.text
    assert response.json() == {
        "detail": "missing API key: send X-API-Key: <key> or Authorization: Bearer <key>"
    }


@pytest.mark.parametrize("path", ["/runs/journey/a%0Ab", "/no-such-path", "/customers/a%0A/x"])
async def test_a_path_no_route_matches_is_401_without_a_key_and_404_with_one(
    anonymous: httpx.AsyncClient, api: httpx.AsyncClient, path: str
) -> None:
    refused = await anonymous.get(path)
    assert refused.status_code == 401, refused.text
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await api.get(path)).status_code == 404


async def test_the_openapi_document_declares_the_errors_the_api_answers(
    api: httpx.AsyncClient,
) -> None:
    spec = (await api.get("/openapi.json")).json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if path.startswith("/health"):
                continue
            assert {"401", "403", "413"} <= set(responses), (method, path)
            if "requestBody" in operation or operation.get("parameters"):
                schema = responses["422"]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/HTTPValidationError"}, path
    events = spec["paths"]["/events"]["post"]["responses"]
    conflict = events["409"]["content"]["application/json"]["schema"]
    refs = [part["$ref"] for part in conflict.get("anyOf", [conflict])]
    assert any(ref.endswith("ConflictDetail") for ref in refs), refs  # another body, same id
    assert any(ref.endswith("ErasedDetail") for ref in refs), refs  # an erased customer
    enroll = spec["paths"]["/journeys/{journey_id}/enrollments"]["post"]
    assert "Idempotency-Key" in enroll["description"]
    change = spec["components"]["schemas"]["CustomerChange"]["properties"]["customer_id"]
    assert "must equal the id in the path" in change["description"]


# --- 6. public pages -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/unsubscribe?token=x.y"), ("POST", "/unsubscribe?token=x.y"), ("GET", "/s/x.y")],
)
async def test_public_pages_refuse_to_be_framed(
    site: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await site.request(method, path)
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'"


async def test_a_genuine_unsubscribe_page_refuses_to_be_framed(
    site: httpx.AsyncClient,
) -> None:
    customer = await new_customer(site)
    token = LINKS.token(customer, "email", datetime.now(UTC))
    response = await site.get("/unsubscribe", params={"token": token})
    assert response.status_code == 200
    assert response.headers["X-Frame-Options"] == "DENY"


async def test_a_survey_comment_over_the_limit_is_told_so(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    _customer, path = await surveyed_customer(api, stack)
    page = await api.get(path)
    assert page.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    response = await api.post(path, content=f"score=4&comment={'x' * 2001}", headers=FORM)
    assert response.status_code == 422
    assert "comment is too long" in response.text and "2000 characters" in response.text
    assert "choose one of the scores" not in response.text
    answered = await api.post(path, content=f"score=4&comment={'x' * 2000}", headers=FORM)
    assert answered.status_code == 200, answered.text
