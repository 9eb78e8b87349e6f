"""Long-running processes: the worker, the HTTP API and the whole embedded dev stack.

`journeys worker`, `journeys api` and `journeys dev` call these; they share one way to open
the store, connect to Temporal and build the service, so every process reads the same settings.

Secrets: a worker signs the links customers get (unsubscribe, survey, tracking) and an API
verifies them, so both must hold the same JOURNEYS_SECRET_KEY; `journeys worker` and `journeys
api` refuse to start without it (check_shared_secrets) rather than each generating its own.
Only `journeys dev` generates secrets, into its data dir, for its one-process stack.

Stopping: SIGTERM (what systemd, Docker or Kubernetes send) and SIGINT (Ctrl-C) set one stop
event (until_signal). A worker then stops polling and gives running activities
JOURNEYS_WORKER_SHUTDOWN_GRACE_SECONDS to finish; an API stops accepting connections and
drains the requests in flight (uvicorn); `journeys dev` does both, then stops the SMTP capture
and, last, its Temporal server.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from rich.console import Console

from activities.audience import AudienceActivities
from app import schedules as audience_schedules
from app.journeys import JourneyService
from domain.segments import load_segments_file
from domain.send_policy import load_policy_file
from domain.survey_links import SurveyLinks
from domain.unsubscribe import UnsubscribeLinks
from entrypoints.api import _bind, _server, create_app, serve
from store.store import Store
from workers.client import connect
from workers.dev_server import DevServer
from workers.logging_setup import configure, log
from workers.mail_capture import MailCapture
from workers.metrics import serve_metrics
from workers.provider_sink import provider_sink
from workers.settings import Settings
from workers.worker import activities_for, build_worker, default_channels

SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class MissingSecret(RuntimeError):
    """A secret every process must share is not set; the message names its variable."""


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


def check_shared_secrets(settings: Settings) -> None:
    """What a worker or an API needs before it starts: the secrets all processes share.

    A process that made up its own key would sign links no other process accepts (a survey
    link from a worker refused by the API on another host), so nothing is generated here.
    """
    if not settings.secret_key:
        raise MissingSecret(
            "JOURNEYS_SECRET_KEY is not set: it signs unsubscribe, survey and tracking links, "
            "and every worker and API must have the same one (make one with: python -c "
            "'import secrets; print(secrets.token_urlsafe(32))')"
        )
    if settings.webhook_url and not settings.webhook_secret:
        raise MissingSecret(
            "JOURNEYS_WEBHOOK_SECRET is not set: JOURNEYS_WEBHOOK_URL configures a webhook "
            "channel, whose requests are signed with it for the receiver to check"
        )


def previous_secret_keys(settings: Settings) -> tuple[str, ...]:
    """Keys links were signed with before a rotation: accepted, never used to sign."""
    previous = settings.secret_key_previous
    return (previous,) if previous and previous != settings.secret_key else ()


def resolve_webhook_secret(settings: Settings) -> str:
    """The dev stack's webhook signing secret: its own, never the one that signs customer
    links (a webhook receiver must not be able to mint unsubscribe or survey links)."""
    path = settings.data_dir / "webhook_secret"
    return _resolve(None, path, "JOURNEYS_WEBHOOK_SECRET", create=True)


def unsubscribe_links(settings: Settings) -> UnsubscribeLinks:
    return UnsubscribeLinks(
        resolve_secret_key(settings, create=True),
        settings.public_url,
        previous_secret_keys(settings),
    )


def survey_links(settings: Settings) -> SurveyLinks:
    return SurveyLinks(
        resolve_secret_key(settings, create=True),
        settings.public_url,
        previous_secret_keys(settings),
    )


def audience_activities(settings: Settings, store: Store) -> AudienceActivities:
    segments = load_segments_file(settings.segments_file)
    return AudienceActivities(store, segments, make_service(settings, store))


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set `stop` while the block runs (in the running event loop).

    The loop hears every signal through its wakeup fd, so this holds while uvicorn has its
    own handlers installed (it does while it serves); the default handlers come back after.
    """
    loop = asyncio.get_running_loop()

    def stopping(signum: int) -> None:
        if not stop.is_set():
            log().info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    for signum in SHUTDOWN_SIGNALS:
        loop.add_signal_handler(signum, stopping, signum)
    try:
        yield
    finally:
        for signum in SHUTDOWN_SIGNALS:
            loop.remove_signal_handler(signum)


async def until_signal(run: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run a process's main coroutine with the stop event SIGTERM and SIGINT set."""
    stop = asyncio.Event()
    with stop_on_signals(stop):
        await run(stop)


async def run_worker(settings: Settings, store: Store, stop: asyncio.Event | None = None) -> None:
    """Workflow and activity worker, and the drain of the event log's deliveries beside it.

    Runs until `stop` is set: then the drain ends, the worker stops polling and running
    activities get the grace period to finish (or are cancelled and retried elsewhere).
    """
    check_shared_secrets(settings)
    grace = settings.worker_shutdown_grace_seconds
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
        graceful_shutdown=timedelta(seconds=grace),
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
    polling = asyncio.create_task(worker.run())
    stopped = asyncio.create_task((stop or asyncio.Event()).wait())
    try:
        await asyncio.wait({polling, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not polling.done():
            log().info("worker stopping", grace_seconds=grace)
            drain.cancel()
            await worker.shutdown()
        await polling
        log().info("worker stopped")
    finally:
        stopped.cancel()
        drain.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await drain
        if not polling.done():  # this coroutine was cancelled: so is the worker (it shuts down)
            polling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await polling


async def serve_until(app: FastAPI, host: str, port: int, stop: asyncio.Event | None) -> None:
    """Serve `app` until `stop` is set, then drain the requests in flight (uvicorn)."""
    if stop is None:
        await serve(app, host, port)
        return
    sock = _bind(host, port)
    server = _server(app, host, port, "warning")

    async def exit_on_stop() -> None:
        await stop.wait()
        server.should_exit = True

    watcher = asyncio.create_task(exit_on_stop())
    try:
        await server.serve(sockets=[sock])
    finally:
        watcher.cancel()
        sock.close()


async def run_api(
    settings: Settings, store: Store, api_key: str, stop: asyncio.Event | None = None
) -> None:
    check_shared_secrets(settings)
    app = create_app(
        make_service(settings, store),
        api_key=api_key,
        max_request_bytes=settings.max_request_bytes,
        max_batch_events=settings.max_batch_events,
        links=unsubscribe_links(settings),
        survey_links=survey_links(settings),
        metrics_public=settings.metrics_public,
    )
    await serve_until(app, settings.api_host, settings.api_port, stop)


def _temporal_host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


async def run_dev(
    settings: Settings, console: Console, ready: Callable[[], None] | None = None
) -> None:
    """Temporal dev server (SQLite file), SMTP capture, worker and API in one process.

    Runs until SIGTERM or SIGINT (or until a part of it fails): then the API and the sink
    drain, the worker finishes its activities, and the capture and Temporal stop, in that
    order, so no child process outlives the stack.
    """
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
            # The worker and the API of the stack share the key the stack generated.
            "secret_key": resolve_secret_key(settings, create=True),
        }
    )
    sink = provider_sink(data / "provider", settings.webhook_secret)
    stop = asyncio.Event()
    with stop_on_signals(stop), contextlib.ExitStack() as stack:
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
            asyncio.create_task(run_worker(settings, store, stop)),
            asyncio.create_task(run_api(settings, store, api_key, stop)),
            asyncio.create_task(serve_until(sink, settings.api_host, settings.provider_port, stop)),
        ]
        if ready is not None:
            ready()
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([*tasks, stopped], return_when=asyncio.FIRST_COMPLETED)
            stop.set()  # a signal, or one part ended: the whole stack stops
            # Bounded: the worker's grace, uvicorn's drain (5 s) and some slack.
            await asyncio.wait(tasks, timeout=settings.worker_shutdown_grace_seconds + 15)
            for task in tasks:
                if task.done() and not task.cancelled():
                    task.result()
        finally:
            stopped.cancel()
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
    console.print(f"  Web console       {api}/console/   (sign in with the API key)")
    console.print(f"  API key           {api_key}   (header X-API-Key)")
    console.print(
        f"  SMTP capture      {capture.host}:{capture.port}  (mail in {capture.directory})"
    )
    console.print(f"  SMS/webhook sink  {sink_url}  (messages in {settings.data_dir / 'provider'})")
    console.print(f"  Store             {settings.db_url}")
    console.print(f"  Journeys          {published} published from {settings.journeys_dir}")
    console.print("Press Ctrl-C to stop.")
