"""Which of a customer's events a running journey reads: the rule deliveries and catch-up share.

A run reads an event when it can change what the run does: a goal (`exit_when`), an event a
`wait_for` step waits for, a survey answer or a callback outcome its steps wait on, and the end
of a complaint case that holds its messages. Anything else (the run's own message outcomes, page
views nobody waits for) is not delivered to it.
"""

from __future__ import annotations

from domain.callbacks import CALLBACK_COMPLETED
from domain.journey import CallbackStep, JourneyDefinition, SendStep, SurveyStep, WaitForStep
from domain.surveys import SURVEY_ANSWERED

# A message held by an open case is sent again when the case is resolved.
CASE_RESOLVED = "case_resolved"


def listened_event_types(journey: JourneyDefinition) -> frozenset[str]:
    """The event types a run of `journey` reads once it is running."""
    types = {goal.event for goal in journey.exit_when}
    for step in journey.steps:
        match step:
            case WaitForStep():
                types.add(step.wait_for.event)
            case SurveyStep():
                types.update((SURVEY_ANSWERED, CASE_RESOLVED))
            case CallbackStep():
                types.add(CALLBACK_COMPLETED)
            case SendStep():
                types.add(CASE_RESOLVED)
            case _:
                pass
    return frozenset(types)
