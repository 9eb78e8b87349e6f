"""Worker construction: the journey workflow and every activity, with injected dependencies."""

from __future__ import annotations

import importlib.util
import py_compile
import sys
import tempfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from temporalio.client import Client
from temporalio.worker import Worker, WorkflowRunner

import workflows
from activities.cases import CaseActivities, Ingests
from activities.channels import Channel
from activities.email_channel import SmtpEmailChannel
from activities.http_channel import HttpChannel
from activities.journey_start import JourneyStartActivities, StartsJourneys
from activities.messaging import MessagingActivities
from activities.profiles import ProfileActivities
from activities.run_log import RunLogActivities
from activities.support import SupportActivities
from domain.send_policy import SendPolicy
from domain.survey_links import SurveyLinks
from domain.unsubscribe import UnsubscribeLinks
from store.store import Store
from workers.build_id import workflow_build_id
from workers.logging_setup import JourneyLogContext
from workers.settings import Settings, get_settings
from workflows.audience import AudienceEnrollmentWorkflow
from workflows.case import CaseWorkflow
from workflows.journey import JourneyWorkflow
from workflows.sandbox import workflow_runner

WORKFLOWS: list[type] = [JourneyWorkflow, AudienceEnrollmentWorkflow, CaseWorkflow]
WORKFLOW_MODULES = (workflows,)  # the package, which the sandbox imports with each module


def utc_now() -> datetime:
    return datetime.now(UTC)


class JourneysPort(Ingests, StartsJourneys, Protocol):
    """The ingesting service, as the case and start activities use it."""


def default_channels(settings: Settings) -> dict[str, Channel]:
    """SMTP email always; SMS and webhook when their provider endpoints are configured."""
    channels: dict[str, Channel] = {
        "email": SmtpEmailChannel(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_sender,
            timeout=settings.smtp_timeout,
            tls=settings.smtp_tls,
            username=settings.smtp_username,
            password=settings.smtp_password,
            ca_file=settings.smtp_ca_file,
        )
    }
    if settings.sms_url:
        channels["sms"] = HttpChannel("sms", settings.sms_url, token=settings.sms_token)
    if settings.webhook_url:
        channels["webhook"] = HttpChannel(
            "webhook", settings.webhook_url, secret=settings.webhook_secret
        )
    return channels


def activities_for(
    store: Store,
    channels: Mapping[str, Channel],
    clock: Callable[[], datetime] = utc_now,
    *,
    policy: SendPolicy | None = None,
    links: UnsubscribeLinks | None = None,
    journeys: JourneysPort | None = None,
    survey_links: SurveyLinks | None = None,
    tracking: bool = True,
) -> list[Callable[..., Any]]:
    """The activities of journeys; with `journeys` (the ingesting service) those of cases and
    of `start` steps."""
    messaging = MessagingActivities(
        store, channels, clock, policy=policy, links=links, tracking=tracking
    )
    profiles = ProfileActivities(store, clock)
    run_log = RunLogActivities(store)
    support = SupportActivities(store, survey_links)
    activities: list[Callable[..., Any]] = [
        messaging.send_message,
        messaging.abandon_message,
        profiles.load_profile,
        profiles.update_profile,
        run_log.record_steps,
        run_log.read_log,
        support.create_callback,
        support.escalate_callback,
        support.create_survey,
        support.close_callback,
    ]
    if journeys is not None:
        activities.append(CaseActivities(store, journeys, clock).record_case)
        activities.append(JourneyStartActivities(journeys).start_journey)
    return activities


def cache_workflow_bytecode() -> str | None:
    """Give the sandbox compiled workflow modules even where bytecode is not written.

    The sandbox imports each workflow module afresh for every run it loads (start, or
    replay after eviction). With PYTHONDONTWRITEBYTECODE (common in container images) there
    is no .pyc, so every load compiled workflows/journey.py from source (about 10 ms of
    event-loop time on the worker, per run): starts backed up into workflow tasks of over
    5 s. Compiling once into a private cache prefix, outside the source tree, makes a load
    an unmarshal instead. Returns the prefix used, None when Python caches bytecode itself.
    """
    if not sys.dont_write_bytecode:
        return None
    if sys.pycache_prefix is None:
        sys.pycache_prefix = tempfile.mkdtemp(prefix="journeys-workflow-bytecode-")
    for module in (*WORKFLOW_MODULES, *(sys.modules[w.__module__] for w in WORKFLOWS)):
        source = getattr(module, "__file__", None)
        if source and source.endswith(".py"):
            py_compile.compile(source, cfile=importlib.util.cache_from_source(source), doraise=True)
    return sys.pycache_prefix


def build_worker(
    client: Client,
    task_queue: str,
    activities: list[Callable[..., Any]],
    *,
    workflows: list[type] | None = None,
    max_concurrent_activities: int = 64,
    max_cached_workflows: int | None = None,
    max_concurrent_workflow_tasks: int | None = None,
    graceful_shutdown: timedelta = timedelta(0),
    runner: WorkflowRunner | None = None,
) -> Worker:
    """`graceful_shutdown`: how long `shutdown()` lets running activities finish before it
    cancels them (`journeys worker` passes JOURNEYS_WORKER_SHUTDOWN_GRACE_SECONDS). `runner`:
    the lean sandbox unless given (the benchmarks compare others)."""
    if max_cached_workflows is None:
        max_cached_workflows = get_settings().max_cached_workflows
    if max_concurrent_workflow_tasks is None:
        max_concurrent_workflow_tasks = get_settings().max_concurrent_workflow_tasks
    cache_workflow_bytecode()
    workflows = workflows or WORKFLOWS
    return Worker(
        client,
        task_queue=task_queue,
        workflows=workflows,
        activities=activities,
        # The lean sandbox: workflow modules shared by every run (a quarter of the memory per
        # cached run, twice the start rate); the tests run the strict one (workflows/sandbox.py).
        workflow_runner=runner or workflow_runner(strict=False, workflows=workflows),
        # The client's own interceptors (tracing) come first; the worker adds these.
        interceptors=[JourneyLogContext()],
        activity_executor=ThreadPoolExecutor(max_workers=max_concurrent_activities),
        max_concurrent_activities=max_concurrent_activities,
        max_concurrent_workflow_tasks=max_concurrent_workflow_tasks,
        max_cached_workflows=max_cached_workflows,
        graceful_shutdown_timeout=graceful_shutdown,
        build_id=workflow_build_id(),
    )
