"""A message that fails for good is recorded as failed and the run goes on by the send's
`on_failure`: the next step, the end, or a named step. That holds for a provider that refuses
the message and for one that keeps erroring until the send's retries run out."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.journey import JourneyDefinition
from domain.loader import load_journey_file, load_journey_text
from domain.problems import JourneyError
from tests.workflows.support import FakeServices, customer_event, enroll, journey_worker
from workflows.journey import SEND_OPTIONS, JourneyWorkflow

JOURNEY = """
id: reach_{policy}
name: Reach the customer
category: transactional
trigger: {{event: signed_up}}
templates:
  text_hi: {{text: "Hi from us"}}
  mail_hi: {{subject: "Welcome", text: "Hi"}}
  by_mail: {{subject: "We could not text you", text: "Hi"}}
steps:
  - id: text
    send: {{channel: sms, template: text_hi{on_failure}}}
  - id: welcome
    send: {{channel: email, template: mail_hi}}
  - {{id: done, end: reached}}
{fallback}"""
FALLBACK = """  - id: fallback
    send: {channel: email, template: by_mail}
  - {id: after_fallback, goto: done}
"""


def journey(policy: str) -> JourneyDefinition:
    on_failure = "" if policy == "default" else f", on_failure: {policy}"
    fallback = FALLBACK if policy == "fallback" else ""
    return load_journey_text(
        JOURNEY.format(policy=policy, on_failure=on_failure, fallback=fallback)
    )


# policy -> (steps sent after the failed text, how the run ends, where the failed step went)
EXPECTED = {
    "default": (["welcome"], "reached", "welcome"),
    "continue": (["welcome"], "reached", "welcome"),
    "end": ([], "text failed: ", "end"),
    "fallback": (["fallback"], "reached", "fallback"),
}


@pytest.mark.parametrize("failure", ["failed", "error"])
@pytest.mark.parametrize("policy", list(EXPECTED))
async def test_a_send_that_fails_for_good_is_recorded_and_the_run_follows_on_failure(
    time_skipping_env: WorkflowEnvironment, policy: str, failure: str
) -> None:
    env, services = time_skipping_env, FakeServices()
    customer = services.customer("fail", phone="+4915112345678")
    services.send_failures["text"] = failure
    definition = journey(policy)
    async with journey_worker(env, services) as task_queue:
        now = await env.get_current_time()
        handle = await enroll(
            env, task_queue, definition, customer_event(customer.customer_id, "signed_up", now)
        )
        outcome = await handle.result()
        status = await handle.query(JourneyWorkflow.status)

    sent_after, reason, target = EXPECTED[policy]
    assert outcome.status == "completed"
    assert outcome.reason.startswith(reason)
    assert services.sent_steps(customer.customer_id) == sent_after
    [failed] = [e for e in services.steps if e.step_id == "text" and e.status == "failed"]
    assert failed.detail.endswith(f"-> {target}")
    assert status.outputs["text"]["status"] == "failed"
    if failure == "failed":  # refused at once: one attempt, the activity recorded it itself
        assert services.attempts["text"] == 1 and services.abandoned == []
        assert "provider refused: invalid number" in failed.detail
    else:  # every attempt errored: retries ran out, the message is given up, the run goes on
        assert services.attempts["text"] == SEND_OPTIONS["retry_policy"].maximum_attempts
        assert "gave up after retries" in failed.detail
        assert "provider unreachable for text" in failed.detail
        [abandoned] = services.abandoned
        assert abandoned.step_id == "text" and abandoned.channel == "sms"
        assert abandoned.idempotency_key.endswith("/text/1")
        assert "provider unreachable for text" in abandoned.reason
    if policy == "end":
        assert "provider" in outcome.reason
    [end] = services.ends
    assert end.status == "completed"


def test_on_failure_to_an_unknown_step_is_refused_naming_file_step_and_field(
    tmp_path: Path,
) -> None:
    path = tmp_path / "reach.yaml"
    text = JOURNEY.format(policy="x", on_failure=", on_failure: nowhere", fallback="")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(JourneyError) as caught:
        load_journey_file(path)
    [problem] = caught.value.problems
    assert (problem.step, problem.field) == ("text", "send.on_failure")
    assert "unknown step 'nowhere'" in problem.message
    assert str(problem).startswith(f"{path}: step 'text': send.on_failure: ")


def test_on_failure_continue_is_ambiguous_when_a_step_is_named_continue() -> None:
    text = JOURNEY.format(policy="x", on_failure=", on_failure: continue", fallback="")
    text += "  - {id: continue, end: never}\n"
    text = text.replace("{id: done, end: reached}", "{id: done, goto: continue}")
    with pytest.raises(JourneyError, match=r"send\.on_failure: 'continue' means the next step"):
        load_journey_text(text)


def test_a_send_that_fails_back_to_itself_without_a_wait_is_a_busy_loop() -> None:
    text = JOURNEY.format(policy="x", on_failure=", on_failure: text", fallback="")
    with pytest.raises(JourneyError, match="loop without a wait: text -> text"):
        load_journey_text(text)


BRANCHING = """
id: reach_branching
name: Reach the customer, by mail when the text did not go out
category: transactional
trigger: {event: signed_up}
templates:
  text_hi: {text: "Hi from us"}
  by_mail: {subject: "We could not text you", text: "Hi"}
steps:
  - id: text
    send: {channel: sms, template: text_hi}
  - id: route
    branch:
      - {when: "steps.text.status == 'sent'", goto: done}
      - {else: fallback}
  - id: fallback
    send: {channel: email, template: by_mail}
  - {id: done, end: reached}
"""


@pytest.mark.parametrize(("failure", "sent"), [(None, ["text"]), ("failed", ["fallback"])])
async def test_a_later_step_branches_on_the_delivery_outcome_of_a_send(
    time_skipping_env: WorkflowEnvironment, failure: str | None, sent: list[str]
) -> None:
    env, services = time_skipping_env, FakeServices()
    customer = services.customer("branch", phone="+4915112345678")
    if failure:
        services.send_failures["text"] = failure
    async with journey_worker(env, services) as task_queue:
        now = await env.get_current_time()
        handle = await enroll(
            env,
            task_queue,
            load_journey_text(BRANCHING),
            customer_event(customer.customer_id, "signed_up", now),
        )
        outcome = await handle.result()
    assert outcome.status == "completed"
    assert services.sent_steps(customer.customer_id) == sent
