"""The API against its own OpenAPI document (schemathesis): every operation, with data that fits
the schema and data that does not, with the API key and without it. No answer is a 5xx, and
every answer (status, content type, headers, body) is one the document declares.

Schemathesis only generates the cases (hypothesis strategies from the document) and checks the
answers; the requests go to the app over httpx's ASGI transport in the session's event loop,
so the real Temporal dev server and worker of tests/api/conftest.py serve them. Hypothesis runs
in a thread and hands each request to the loop.

Bounded: MAX_EXAMPLES per operation and mode and key, no shrinking past the first failure, no
example database; the count of cases sent is printed (run with -s to see it).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    missing_required_header,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from domain.loader import load_journey_file
from entrypoints.api import create_app
from tests.api.conftest import API_KEY, JOURNEYS_DIR, MAX_BATCH_EVENTS, SURVEY_LINKS, Stack

MAX_EXAMPLES = 15
# Every check that judges the one answer; those that send more requests of their own (through
# `requests`, to the network) are left out: `ignored_auth` is done here by sending every case
# without the key too, and expecting 401.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    missing_required_header,
]
# Without a body, a "schema-violating" case differs only in query strings (a free-text filter
# is any string, whatever the generator meant it to be) or in the Authorization header while
# X-API-Key is right: nothing an operation could refuse.
FREE_QUERY_CHECKS = [check for check in CHECKS if check is not negative_data_rejection]
PUBLIC = {"/health", "/health/ready"}
ADDRESSES = {"email": "someone@example.com", "sms": "+4915112345678"}
KEYS = {"with key": {"X-API-Key": API_KEY}, "without key": {}}
IMPACT_DRAFT = load_journey_file(JOURNEYS_DIR / "onboarding.yaml").model_dump(
    mode="json", by_alias=True, exclude_none=True
)


def _spare_shared_customers(case: Any) -> None:
    """An erasure is for ever: a generated DELETE /customers/{id} of the id every other case
    uses ("0") would leave the rest of the run refused (409, 410). Erasures go to ids of their
    own instead (tests/api/test_privacy.py erases real customers end to end)."""
    path = case.path_parameters or {}
    if case.method.upper() == "DELETE" and "customer_id" in path:
        path["customer_id"] = f"erase-{path['customer_id']}"[:128]


def _follow_cross_field_rules(case: Any) -> None:
    """Positive cases obey the rules the document states in words, not in JSON Schema: a body
    `customer_id` equals the path's, `request_id` equals the Idempotency-Key header, a feedback
    `recipient` is an address of its `channel`."""
    body = case.body if isinstance(case.body, dict) else None
    if body is None:
        return
    path = case.path_parameters or {}
    if "customer_id" in path and body.get("customer_id") is not None:
        body["customer_id"] = path["customer_id"]
    headers = case.headers or {}
    key = next((k for k in headers if k.lower() == "idempotency-key"), None)
    if key is not None and body.get("request_id") is not None:
        body["request_id"] = headers[key]
    if case.operation.path == "/providers/feedback" and "recipient" in body:
        channel = body.get("channel", "email")
        body["recipient"] = ADDRESSES.get(channel, body["recipient"])
    if case.operation.path == "/journeys/impact":
        # A definition must also pass `journeys validate` (goto targets, reachable steps...),
        # which a generated one seldom does; and no simulation here (sample=0).
        case.body = IMPACT_DRAFT
        case.query = {**(case.query or {}), "sample": 0}
        return
    if case.operation.path == "/callbacks/{task_id}/complete":
        if body.get("outcome") == "call_back_later":
            body["call_back_at"] = "2099-01-01T10:00:00+00:00"
        else:
            body.pop("call_back_at", None)


def _request(case: Any, headers: dict[str, str]) -> dict[str, Any]:
    """httpx arguments for a case (schemathesis serializes for requests: json or data)."""
    _spare_shared_customers(case)
    kwargs = case.as_transport_kwargs(base_url="http://api")
    request: dict[str, Any] = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "params": kwargs.get("params"),
        "headers": {**(kwargs.get("headers") or {}), **headers},
    }
    if "json" in kwargs:
        request["content"] = json.dumps(kwargs["json"]).encode()
        request["headers"].setdefault("Content-Type", "application/json")
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        request["content"] = data if isinstance(data, bytes) else str(data).encode()
    return request


async def test_every_operation_answers_as_its_openapi_document_says(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    # The default body limit: generated bodies stay far below it, so answers are about them.
    app = create_app(
        stack.service, API_KEY, max_batch_events=MAX_BATCH_EVENTS, survey_links=SURVEY_LINKS
    )
    schema = schemathesis.openapi.from_dict(app.openapi())
    operations: list[Any] = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    loop = asyncio.get_running_loop()
    sent = 0
    failures: list[str] = []

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as client:

        def exercise(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> None:
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def one(case: Any) -> None:
                nonlocal sent
                if mode is GenerationMode.POSITIVE:
                    _follow_cross_field_rules(case)
                request = _request(case, headers)
                sent += 1
                sending = asyncio.run_coroutine_threadsafe(client.request(**request), loop)
                response = sending.result(timeout=60)
                assert response.status_code < 500, (request, response.text)
                if not headers and operation.path not in PUBLIC:
                    assert response.status_code == 401, (request, response.text)
                checks = CHECKS if operation.body else FREE_QUERY_CHECKS
                case.validate_response(response, checks=checks, headers=request["headers"])

            one()

        def run_all() -> None:
            for operation in operations:
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                    for name, headers in KEYS.items():
                        try:
                            exercise(operation, mode, headers)
                        except Unsatisfiable:
                            pass  # no invalid request exists (an operation without inputs)
                        except (Exception, BaseExceptionGroup) as exc:
                            label = f"{operation.label} ({mode.value}, {name})"
                            failures.append(f"{label}: {str(exc)[:2000]}")

        started = time.monotonic()
        await asyncio.to_thread(run_all)
        took = time.monotonic() - started

    with capsys.disabled():
        print(f"\nschemathesis: {sent} cases over {len(operations)} operations in {took:.1f} s")
    assert not failures, "\n\n".join(failures)
