"""Long-running processes: the worker, the HTTP API and the whole embedded dev stack.

`journeys worker`, `journeys api` and `journeys dev` call these; they share one way to open
the store, connect to Temporal and build the service, so every process reads the same settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from activities.audience import AudienceActivities
from app import schedules as audience_schedules
from app.journeys import JourneyService
from domain.segments import load_segments_file
from domain.send_policy import load_policy_file
from domain.survey_links import SurveyLinks
from domain.unsubscribe import UnsubscribeLinks
from entrypoints.api import create_app, serve
from store.store import Store
from workers.client import connect
from workers.dev_server import DevServer
from workers.logging_setup import configure, log
from workers.mail_capture import MailCapture
from workers.metrics import serve_metrics
from workers.provider_sink import provider_sink
from workers.settings import Settings
from workers.worker import activities_for, build_worker, default_channels


def open_store(settings: Settings) -> Store:
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Store.open(settings.db_url)


def make_service(settings: Settings, store: Store) -> JourneyService:
    return JourneyService(store, lambda: connect(settings), settings.temporal_task_queue)


def api_key_file(settings: Settings) -> Path:
    return settings.data_dir / "api_key"


def resolve_api_key(settings: Settings, *, create: bool) -> str:
    """JOURNEYS_API_KEY, else the key the dev stack generated (made now when `create`)."""
    return _resolve(settings.api_key, api_key_file(settings), "JOURNEYS_API_KEY", create=create)


def resolve_secret_key(settings: Settings, *, create: bool) -> str:
    """JOURNEYS_SECRET_KEY (signs customer links), else the one the dev stack generated."""
    path = settings.data_dir / "secret_key"
    return _resolve(settings.secret_key, path, "JOURNEYS_SECRET_KEY", create=create)


def _resolve(configured: str | None, path: Path, variable: str, *, create: bool) -> str:
    if configured:
        return configured
    if path.exists():
        return path.read_text().strip()
    if not create:
        raise RuntimeError(
            f"no {variable.removeprefix('JOURNEYS_').replace('_', ' ').lower()}: set {variable} "
            f"(the dev stack generates one into {path} when it starts)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def resolve_webhook_secret(settings: Settings) -> str:
    """The dev stack's webhook signing secret: its own, never the one that signs customer
    links (a webhook receiver must not be able to mint unsubscribe or survey links)."""
    path = settings.data_dir / "webhook_secret"
    return _resolve(None, path, "JOURNEYS_WEBHOOK_SECRET", create=True)


def unsubscribe_links(settings: Settings) -> UnsubscribeLinks:
    return UnsubscribeLinks(resolve_secret_key(settings, create=True), settings.public_url)


def survey_links(settings: Settings) -> SurveyLinks:
    return SurveyLinks(resolve_secret_key(settings, create=True), settings.public_url)


def audience_activities(settings: Settings, store: Store) -> AudienceActivities:
    segments = load_segments_file(settings.segments_file)
    return AudienceActivities(store, segments, make_service(settings, store))


async def run_worker(settings: Settings, store: Store) -> None:
    """Workflow and activity worker, and the drain of the event log's deliveries beside it."""
    client = await connect(settings)
    journeys = make_service(settings, store)
    audiences = audience_activities(settings, store)
    links = unsubscribe_links(settings)
    worker = build_worker(
        client,
        settings.temporal_task_queue,
        [
            *activities_for(
                store,
                default_channels(settings),
                policy=load_policy_file(settings.policy_file),
                links=links,
                journeys=journeys,
                survey_links=survey_links(settings),
                tracking=settings.tracking,
            ),
            audiences.measure_audience,
            audiences.enroll_audience_batch,
        ],
    )
    # A daemon thread: it ends with the process.
    serve_metrics(settings.metrics_port, store)
    log().info(
        "worker started",
        task_queue=settings.temporal_task_queue,
        temporal=settings.temporal_address,
    )
    # Whatever a request could not deliver (Temporal was down, the process died) is
    # delivered from here, in log order per customer.
    drain = asyncio.create_task(journeys.deliverer.run())
    try:
        await worker.run()
    finally:
        drain.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await drain


async def run_api(settings: Settings, store: Store, api_key: str) -> None:
    app = create_app(
        make_service(settings, store),
        api_key=api_key,
        max_request_bytes=settings.max_request_bytes,
        max_batch_events=settings.max_batch_events,
        links=unsubscribe_links(settings),
        survey_links=survey_links(settings),
        metrics_public=settings.metrics_public,
    )
    await serve(app, settings.api_host, settings.api_port)


def _temporal_host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


async def run_dev(
    settings: Settings, console: Console, ready: Callable[[], None] | None = None
) -> None:
    """Temporal dev server (SQLite file), SMTP capture, worker and API in one process."""
    configure(settings)
    data = settings.data_dir
    data.mkdir(parents=True, exist_ok=True)
    host, port = _temporal_host_port(settings.temporal_address)
    temporal = DevServer(data / "temporal.db", host, port, settings.temporal_ui_port)
    capture = MailCapture(data / "mail", settings.smtp_host, settings.smtp_port)
    store = open_store(settings)
    api_key = resolve_api_key(settings, create=True)
    sink_url = f"http://{settings.api_host}:{settings.provider_port}"
    settings = settings.model_copy(
        update={
            "sms_url": settings.sms_url or f"{sink_url}/sms",
            "webhook_url": settings.webhook_url or f"{sink_url}/webhook",
            "webhook_secret": settings.webhook_secret or resolve_webhook_secret(settings),
        }
    )
    sink = provider_sink(data / "provider", settings.webhook_secret)
    with contextlib.ExitStack() as stack:
        await temporal.start(data / "temporal.log")
        stack.callback(temporal.stop)
        capture.start()
        stack.callback(capture.stop)
        stack.callback(store.close)
        svc = make_service(settings, store)
        published = svc.publish_directory(settings.journeys_dir)
        await audience_schedules.sync_published(svc)
        _print_addresses(console, settings, temporal, capture, api_key, len(published), sink_url)
        tasks = [
            asyncio.create_task(run_worker(settings, store)),
            asyncio.create_task(run_api(settings, store, api_key)),
            asyncio.create_task(serve(sink, settings.api_host, settings.provider_port)),
        ]
        if ready is not None:
            ready()
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def _print_addresses(
    console: Console,
    settings: Settings,
    temporal: DevServer,
    capture: MailCapture,
    api_key: str,
    published: int,
    sink_url: str,
) -> None:
    api = f"http://{settings.api_host}:{settings.api_port}"
    console.print("[bold]journeys dev stack is up[/bold]")
    console.print(f"  Temporal server   {temporal.address}  (file {temporal.database})")
    console.print(f"  Temporal Web UI   {temporal.ui_url}")
    console.print(f"  HTTP API          {api}   (OpenAPI: {api}/docs)")
    console.print(f"  API key           {api_key}   (header X-API-Key)")
    console.print(
        f"  SMTP capture      {capture.host}:{capture.port}  (mail in {capture.directory})"
    )
    console.print(f"  SMS/webhook sink  {sink_url}  (messages in {settings.data_dir / 'provider'})")
    console.print(f"  Store             {settings.db_url}")
    console.print(f"  Journeys          {published} published from {settings.journeys_dir}")
    console.print("Press Ctrl-C to stop.")
