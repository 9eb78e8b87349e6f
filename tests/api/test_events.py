"""Events over HTTP: validation, unknown customers, duplicates, batches, and runs they start."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.conftest import Stack, event, eventually, logged, new_customer, new_id


async def test_an_event_is_accepted_and_logged(api: httpx.AsyncClient, stack: Stack) -> None:
    customer_id = await new_customer(api)
    body = event(customer_id, "page_viewed", page="/pricing")
    response = await api.post("/events", json=body)
    assert response.status_code == 202
    answer = response.json()
    assert answer == {
        "event_id": body["event_id"],
        "duplicate": False,
        "seq": answer["seq"],
        "delivery": "delivered",
        "deliveries": [],
    }
    assert isinstance(answer["seq"], int)
    stored = stack.store.events.get(body["event_id"])
    assert stored is not None and stored.properties == {"page": "/pricing"}


async def test_a_timestamp_without_timezone_is_refused_naming_occurred_at(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer_id = await new_customer(api)
    body = {**event(customer_id), "occurred_at": "2026-03-01T09:00:00"}
    response = await api.post("/events", json=body)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "occurred_at"]
    assert error["type"] == "timezone_aware"
    assert logged(stack, customer_id) == []


async def test_an_event_of_an_unknown_customer_is_not_found_and_not_stored(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    ghost = new_id("ghost")
    body = event(ghost)
    response = await api.post("/events", json=body)
    assert response.status_code == 404
    assert response.json()["detail"].startswith(f"unknown customer {ghost!r}")
    assert stack.store.events.get(body["event_id"]) is None


async def test_a_repeated_event_id_is_accepted_as_a_duplicate_and_stored_once(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer_id = await new_customer(api)
    body = event(customer_id, n=1)
    first = await api.post("/events", json=body)
    again = await api.post("/events", json=body)
    assert (first.status_code, first.json()["duplicate"]) == (202, False)
    assert (again.status_code, again.json()["duplicate"]) == (202, True)
    assert again.json()["seq"] == first.json()["seq"]
    assert logged(stack, customer_id) == [body["event_id"]]


async def test_a_repeated_event_id_with_another_body_is_refused_and_acts_on_nothing(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer_id = await new_customer(api)
    body = event(customer_id, "page_viewed")
    assert (await api.post("/events", json=body)).status_code == 202
    answer = {"kind": "nps", "score": 1, "survey_id": "sv-x", "comment": ""}
    forged = {**body, "type": "survey_answered", "properties": answer}
    again = await api.post("/events", json=forged)
    assert again.status_code == 409, again.text
    assert (again.json()["event_id"], again.json()["field"]) == (body["event_id"], "type")
    assert "type" in again.json()["detail"]
    assert stack.store.runs.for_customer(customer_id) == []  # detractor_recovery not started
    stored = stack.store.events.get(body["event_id"])
    assert stored is not None and stored.type == "page_viewed"
    other = await api.post("/events", json={**body, "properties": {"n": 2}})
    assert (other.status_code, other.json()["field"]) == (409, "properties.n")


async def test_a_batch_is_logged_with_one_result_per_event_in_request_order(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer_id = await new_customer(api)
    events = [event(customer_id, "page_viewed", n=n) for n in range(3)]
    response = await api.post("/events/batch", json={"events": [*events, events[0]]})
    assert response.status_code == 202
    results = response.json()
    assert [(r["event_id"], r["duplicate"]) for r in results] == [
        (events[0]["event_id"], False),
        (events[1]["event_id"], False),
        (events[2]["event_id"], False),
        (events[0]["event_id"], True),
    ]
    # The log's order within one batch is the store's (it writes by event id); only the
    # results follow the request's order.
    assert sorted(logged(stack, customer_id)) == sorted(e["event_id"] for e in events)


async def test_a_batch_with_one_unknown_customer_stores_nothing(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer_id = await new_customer(api)
    ghost = new_id("ghost")
    batch = [event(customer_id), event(ghost), event(customer_id)]
    response = await api.post("/events/batch", json={"events": batch})
    assert response.status_code == 404
    assert f"unknown customer {ghost!r}" in response.json()["detail"]
    assert logged(stack, customer_id) == []


async def test_a_batch_with_one_invalid_event_stores_nothing_and_names_it(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer_id = await new_customer(api)
    batch = [event(customer_id), {**event(customer_id), "type": "Not A Type"}]
    response = await api.post("/events/batch", json={"events": batch})
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "events", 1, "type"]]
    assert logged(stack, customer_id) == []


async def test_an_empty_batch_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.post("/events/batch", json={"events": []})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "events"]


async def test_a_signup_starts_onboarding_and_its_run_can_be_read(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer_id = await new_customer(api, attributes={"first_name": "Ada"})
    response = await api.post("/events", json=event(customer_id, "signed_up"))
    assert response.status_code == 202
    [delivery] = response.json()["deliveries"]
    workflow_id = f"journey/onboarding/{customer_id}"
    assert delivery == {
        "journey_id": "onboarding",
        "workflow_id": workflow_id,
        "action": "started",
        "reason": "first entry",
    }

    async def welcomed() -> dict[str, Any] | None:
        run = await api.get(f"/runs/{workflow_id}")
        assert run.status_code == 200, run.text
        snapshot: dict[str, Any] = run.json()
        done = {(h["step_id"], h["status"]) for h in snapshot["history"]}
        return snapshot if ("welcome", "completed") in done else None

    snapshot = await eventually(welcomed, what="the welcome step to complete")
    assert (snapshot["journey_id"], snapshot["customer_id"]) == ("onboarding", customer_id)
    assert snapshot["version"] >= 1
    [welcome] = stack.channel.to(f"{customer_id}@example.com")
    assert welcome.subject == "Welcome aboard, Ada"


async def test_a_second_signup_reaches_the_running_run_instead_of_starting_another(
    api: httpx.AsyncClient,
) -> None:
    customer_id = await new_customer(api)
    first = await api.post("/events", json=event(customer_id, "signed_up"))
    again = await api.post("/events", json=event(customer_id, "signed_up"))
    assert [d["action"] for d in first.json()["deliveries"]] == ["started"]
    assert [d["action"] for d in again.json()["deliveries"]] == ["signalled"]


async def test_the_timeline_shows_events_messages_runs_and_their_steps(
    api: httpx.AsyncClient,
) -> None:
    customer_id = await new_customer(api)
    signup = event(customer_id, "signed_up")
    assert (await api.post("/events", json=signup)).status_code == 202

    async def recorded() -> dict[str, Any] | None:
        response = await api.get(f"/customers/{customer_id}/timeline")
        assert response.status_code == 200
        timeline: dict[str, Any] = response.json()
        runs = timeline["runs"]
        steps = runs[0]["steps"] if runs else []
        sent = [m for m in timeline["messages"] if m["status"] == "sent"]
        return timeline if steps and sent else None

    timeline = await eventually(recorded, what="the run's steps and message in the timeline")
    assert timeline["profile"]["customer_id"] == customer_id
    events = {e["type"]: e for e in timeline["events"]}
    assert events["signed_up"]["event_id"] == signup["event_id"]
    # Delivery outcomes are events in the customer's log too.
    sent = events["message_sent"]["properties"]
    assert (sent["journey_id"], sent["step_id"], sent["channel"]) == (
        "onboarding",
        "welcome",
        "email",
    )
    [view] = timeline["runs"]
    assert view["run"]["journey_id"] == "onboarding"
    assert view["run"]["status"] == "running"
    assert view["run"]["trigger_event_id"] == signup["event_id"]
    assert ("welcome", "completed") in {(s["step_id"], s["status"]) for s in view["steps"]}
    [message] = timeline["messages"]
    assert (message["step_id"], message["template"]) == ("welcome", "welcome")


async def test_an_unknown_run_is_not_found(api: httpx.AsyncClient) -> None:
    response = await api.get(f"/runs/journey/onboarding/{new_id('ghost')}")
    assert response.status_code == 404
    assert "no run with workflow id 'journey/onboarding/ghost-" in response.json()["detail"]
