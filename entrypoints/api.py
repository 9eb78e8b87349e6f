"""The HTTP API: a thin FastAPI front door over JourneyService.

It authenticates, bounds request sizes, validates input with the domain's own models and maps
the service's errors to status codes; every rule lives in domain/, store/ and the service.
`create_app` takes a ready service (the CLI and the tests build one); `serve` and `running` run
an app under uvicorn, in the foreground or in-process for tests.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import uvicorn
from fastapi import (
    APIRouter,
    FastAPI,
    Header,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
    status,
)
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.service import RPCError, RPCStatusCode

from app import journey_pauses
from app.cases import CaseService
from app.journey_changes import UnknownVersion, diff_versions
from app.journeys import (
    Delivery,
    IngestResult,
    JourneyPaused,
    JourneyService,
    RefusedEvent,
    Timeline,
)
from app.messaging import MessagingService
from app.privacy import PrivacyService
from app.support import SupportService
from domain.contracts import RunSnapshot
from domain.customers import CustomerId, CustomerProfile, CustomerUpsert
from domain.events import ConflictingEvent, CustomerEvent, EventProperties
from domain.journey import JourneyDefinition
from domain.journey_diff import JourneyDiff
from domain.privacy import CustomerErased
from domain.survey_links import SurveyLinks
from domain.unsubscribe import UnsubscribeLinks
from entrypoints import (
    api_audit,
    api_broadcasts,
    api_cases,
    api_catalog,
    api_delivery,
    api_impact,
    api_keys,
    api_messages,
    api_privacy,
    api_run_ops,
    api_support,
    console,
)
from entrypoints.api_common import (
    API_KEY_HEADER,
    CONFLICT,
    ERASED,
    NOT_FOUND,
    TEMPORAL,
    ErasedDetail,
    ErrorDetail,
    RateLimiter,
    Service,
    authenticate,
    invalid,
    protected_router,
    requires,
    validation_failed,
)
from store.errors import UnknownCustomer, UnknownEnrollment, UnknownJourney, UnknownMessage
from store.journeys import JourneySummary
from store.store import Store
from workers.client import connect
from workers.metrics import CONTENT_TYPE, exposition, registry_for
from workers.settings import Settings
from workers.tracing import instrument_api

RUN_QUERY_TIMEOUT = 10.0

TAGS: list[dict[str, Any]] = [
    {"name": "health", "description": "Liveness; needs no API key."},
    {"name": "customers", "description": "Profiles and a customer's whole timeline."},
    {"name": "events", "description": "Append customer events; they start and reach journeys."},
    {"name": "journeys", "description": "Published journeys: read, pause, resume, enroll."},
    {"name": "runs", "description": "A running or finished journey run, asked from Temporal."},
    {"name": "messages", "description": "Messages, send decisions, suppressions, feedback."},
    {"name": "cases", "description": "Complaint cases: open, assign, respond, resolve, reopen."},
    {"name": "callbacks", "description": "The callback queue: list, claim, complete."},
    {"name": "reports", "description": "Survey scores: NPS and CSAT per journey and period."},
    {"name": "privacy", "description": "Export a customer's data; erase a customer."},
]

DESCRIPTION = f"""
Customer journeys on Temporal: upsert customers, send their events, enroll them by hand,
pause and resume journeys, and read a customer's timeline or a run's live state.

Every endpoint but `/health` needs the API key, as `{API_KEY_HEADER}: <key>` or
`Authorization: Bearer <key>` (401 otherwise, checked before the body is read). Request bodies
are limited in size (413 beyond it).

Errors: every 422 is `{{"detail": [{{"loc": [...], "msg": "...", "type": "..."}}]}}`, whether the
body is not UTF-8 JSON, nests too deep, holds a lone surrogate, a field is wrong or a rule across
fields is broken; every other 4xx/5xx is `{{"detail": "<why>"}}` (a 409 for a repeated event id
adds `event_id` and `field`).
"""


# --- models that only the HTTP interface needs ---------------------------------------------


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class CustomerChange(CustomerUpsert):
    """A customer upsert whose id comes from the path; a body id, if sent, must match it."""

    customer_id: CustomerId | None = Field(  # type: ignore[assignment]
        default=None,
        description="Optional; when given it must equal the id in the path (422 otherwise).",
    )


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[CustomerEvent] = Field(
        min_length=1, description="Appended all or nothing; results come in this order."
    )


class JourneyDetail(BaseModel):
    """One version of a journey's definition, with the journey's current summary."""

    summary: JourneySummary
    version: int
    definition: JourneyDefinition


RequestId = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/-]*$")
]


class EnrollRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: CustomerId
    properties: EventProperties = Field(
        default_factory=dict,
        description="Extra properties of the enrollment event (e.g. the journey's correlation "
        "key); templates see them as `trigger.*`.",
    )
    request_id: RequestId | None = Field(
        default=None,
        description="Makes a retried request have one effect; the Idempotency-Key header "
        "does the same. When both are sent they must be equal (422 otherwise).",
    )


# --- request size --------------------------------------------------------------------------


class _BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """Refuses request bodies over `max_bytes` with 413.

    A declared Content-Length is checked before anything is read; a chunked (or understated)
    body is counted as it streams, and the app's own reaction to the aborted read is replaced
    by the 413, so nothing is half-processed.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _reply(send, 400, f"invalid Content-Length {declared!r}")
                return
            if int(declared) > self.max_bytes:
                await self._refuse(scope, send)
                return
        received = 0
        too_large = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large and not started:
                return  # the app's answer to a body it could not read; the 413 replaces it
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not too_large or started:
                raise
        if too_large and not started:
            await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        if str(scope.get("path", "")).startswith(console.PREFIX + "/"):
            # A console form (an upload, say): the refusal is a page, in the user's language.
            page = console.too_large_page(Request(scope), self.max_bytes)
            page.headers["connection"] = "close"
            await page(scope, _no_body, send)
            return
        await _reply(
            send,
            413,
            f"request body is larger than {self.max_bytes} bytes "
            "(JOURNEYS_MAX_REQUEST_BYTES); send less per request",
        )


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


async def _reply(send: Send, status_code: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# --- errors --------------------------------------------------------------------------------


def _error(status_code: int) -> Any:
    async def handle(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status_code)

    return handle


async def _conflicting_event(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConflictingEvent)
    return JSONResponse(
        {"detail": str(exc), "event_id": exc.event_id, "field": exc.field}, status_code=409
    )


async def _customer_erased(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CustomerErased)
    erasure = exc.erasure
    body = ErasedDetail(
        detail=str(exc),
        customer_id=erasure.customer_id,
        erased_at=erasure.erased_at,
        started_at=erasure.started_at,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=409)


async def _temporal_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RPCError)
    unreachable = exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)
    return JSONResponse(
        {"detail": f"Temporal {'is unavailable' if unreachable else 'failed'}: {exc.message}"},
        status_code=503 if unreachable else 502,
    )


# --- endpoints -----------------------------------------------------------------------------

public = APIRouter()
router = protected_router()


@public.get("/health", tags=["health"], response_model=Health)
async def health() -> Health:
    return Health()


# Prometheus' text format, not JSON: out of the OpenAPI document (README: Observability).
# Behind a key with metrics:read, or on `public_metrics` when JOURNEYS_METRICS_PUBLIC is set.
guarded_metrics = protected_router()
public_metrics = APIRouter()


async def metrics(request: Request) -> Response:
    body = await asyncio.to_thread(exposition, request.app.state.metrics)
    return Response(body, media_type=CONTENT_TYPE)


guarded_metrics.add_api_route(
    "/metrics",
    metrics,
    methods=["GET"],
    dependencies=[requires("metrics:read")],
    include_in_schema=False,
)
public_metrics.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)


@router.put(
    "/customers/{customer_id}",
    dependencies=[requires("customers:write")],
    tags=["customers"],
    response_model=CustomerProfile,
    responses=ERASED,
    summary="Create a customer or change some of its fields",
)
def put_customer(
    customer_id: Annotated[CustomerId, Path()], change: CustomerChange, service: Service
) -> CustomerProfile:
    """Fields left out keep their stored value; `attributes` are merged key by key.

    A `customer_id` in the body must equal the one in the path (422 otherwise)."""
    if change.customer_id is not None and change.customer_id != customer_id:
        raise invalid(
            ("body", "customer_id"),
            f"customer_id {change.customer_id!r} differs from the path's {customer_id!r}",
            change.customer_id,
        )
    upsert = CustomerUpsert.model_validate(
        {**change.model_dump(exclude_unset=True), "customer_id": customer_id}
    )
    return service.upsert_customer(upsert)


@router.get(
    "/customers/{customer_id}",
    dependencies=[requires("customers:read")],
    tags=["customers"],
    response_model=CustomerProfile,
    responses=NOT_FOUND,
)
def get_customer(customer_id: str, service: Service) -> CustomerProfile:
    profile = service.store.customers.get(customer_id)
    if profile is None:
        raise UnknownCustomer(customer_id)
    return profile


@router.get(
    "/customers/{customer_id}/timeline",
    dependencies=[requires("customers:read")],
    tags=["customers"],
    response_model=Timeline,
    responses=NOT_FOUND,
    summary="A customer's profile, events, messages and journey runs with their steps",
)
def get_timeline(customer_id: str, service: Service) -> Timeline:
    return service.timeline(customer_id)


@router.post(
    "/events",
    dependencies=[requires("events:write")],
    tags=["events"],
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IngestResult,
    responses={**NOT_FOUND, **CONFLICT, **TEMPORAL},
    summary="Append one customer event and deliver it to journeys",
)
async def post_event(event: CustomerEvent, service: Service) -> IngestResult:
    """An `event_id` already logged is accepted and not stored again (`duplicate: true`);
    it is delivered again, so retrying a request that failed half-way completes it.
    An unknown customer is refused (404) and nothing is stored."""
    try:
        [result] = await service.ingest([event])
    except RefusedEvent as exc:
        raise invalid(("body", *exc.field), str(exc), None) from exc
    return result


@router.post(
    "/events/batch",
    dependencies=[requires("events:write")],
    tags=["events"],
    status_code=status.HTTP_202_ACCEPTED,
    response_model=list[IngestResult],
    responses={**NOT_FOUND, **CONFLICT, **TEMPORAL},
    summary="Append a batch of customer events, all or nothing",
)
async def post_events(batch: EventBatch, request: Request, service: Service) -> list[IngestResult]:
    """If any event names an unknown customer the whole batch is refused (404) and nothing is
    stored. The number of events per batch is limited (JOURNEYS_MAX_BATCH_EVENTS)."""
    limit: int = request.app.state.max_batch_events
    if len(batch.events) > limit:
        raise invalid(
            ("body", "events"),
            f"a batch holds at most {limit} events (JOURNEYS_MAX_BATCH_EVENTS); "
            f"this one has {len(batch.events)}: split it",
            len(batch.events),
        )
    try:
        return await service.ingest(batch.events)
    except RefusedEvent as exc:
        raise invalid(("body", "events", exc.index, *exc.field), str(exc), None) from exc


@router.get(
    "/journeys",
    dependencies=[requires("journeys:read")],
    tags=["journeys"],
    response_model=list[JourneySummary],
)
def list_journeys(service: Service) -> list[JourneySummary]:
    return service.journeys()


@router.get(
    "/journeys/{journey_id}",
    dependencies=[requires("journeys:read")],
    tags=["journeys"],
    response_model=JourneyDetail,
    response_model_exclude_none=True,
    responses=NOT_FOUND,
)
def get_journey(
    journey_id: str,
    service: Service,
    version: Annotated[int | None, Query(ge=1, description="Default: the newest.")] = None,
) -> JourneyDetail:
    summary = service.store.journeys.get(journey_id)
    if summary is None:
        raise UnknownJourney(journey_id)
    if version is not None and version > summary.latest_version:
        raise HTTPException(
            404,
            f"journey {journey_id!r} has no version {version} (newest is {summary.latest_version})",
        )
    number = version or summary.latest_version
    return JourneyDetail(
        summary=summary, version=number, definition=service.journey(journey_id, number)
    )


@router.get(
    "/journeys/{journey_id}/diff",
    dependencies=[requires("journeys:read")],
    tags=["journeys"],
    response_model=JourneyDiff,
    responses=NOT_FOUND,
    summary="What changed between two published versions",
)
def get_journey_diff(
    journey_id: str,
    service: Service,
    old: Annotated[
        int | None, Query(alias="from", ge=1, description="Default: the version before `to`.")
    ] = None,
    new: Annotated[int | None, Query(alias="to", ge=1, description="Default: the newest.")] = None,
) -> JourneyDiff:
    """Step by step (added, removed, changed and how), plus trigger, goals, audience,
    templates and locales; `unified` holds the same as a unified diff of the YAML."""
    try:
        return diff_versions(service, journey_id, old, new)
    except UnknownVersion as exc:
        raise HTTPException(404, str(exc)) from exc


@router.post(
    "/journeys/{journey_id}/pause",
    dependencies=[requires("journeys:write")],
    tags=["journeys"],
    response_model=JourneySummary,
    responses=NOT_FOUND,
    summary="Stop new entrants; runs in flight continue (or hold at their next send)",
)
def pause_journey(
    journey_id: str,
    service: Service,
    hold_sends: Annotated[
        bool,
        Query(description="Also hold every run of the journey at its next send until resume."),
    ] = False,
) -> JourneySummary:
    return journey_pauses.pause(service, journey_id, hold_sends=hold_sends)


@router.post(
    "/journeys/{journey_id}/resume",
    dependencies=[requires("journeys:write")],
    tags=["journeys"],
    response_model=JourneySummary,
    responses=NOT_FOUND,
    summary="Take new entrants again, and release the sends a hold-sends pause held",
)
async def resume_journey(journey_id: str, service: Service) -> JourneySummary:
    return (await journey_pauses.resume(service, journey_id)).summary


@router.post(
    "/journeys/{journey_id}/enrollments",
    dependencies=[requires("enroll")],
    tags=["journeys"],
    response_model=Delivery,
    responses={
        200: {"description": "No new run: the customer's running run got the event, or why not."},
        201: {"model": Delivery, "description": "A run was started."},
        409: {
            "model": ErrorDetail | ErasedDetail,
            "description": "The journey is paused, or the customer was erased.",
        },
        **NOT_FOUND,
        **TEMPORAL,
    },
    summary="Enroll a customer by hand, as if the journey's trigger had fired now",
    description="With both the `Idempotency-Key` header and `request_id` in the body, the "
    "two must be equal (422 otherwise).",
)
async def enroll(
    journey_id: str,
    body: EnrollRequest,
    response: Response,
    service: Service,
    idempotency_key: Annotated[
        RequestId | None,
        Header(
            alias="Idempotency-Key",
            description="Sending the same key again has no further effect.",
        ),
    ] = None,
) -> Delivery:
    if idempotency_key and body.request_id and idempotency_key != body.request_id:
        raise invalid(
            ("body", "request_id"),
            "request_id differs from the Idempotency-Key header; send one or make them equal",
            body.request_id,
        )
    delivery = await service.enroll(
        journey_id, body.customer_id, body.properties, idempotency_key or body.request_id
    )
    response.status_code = 201 if delivery.action == "started" and not delivery.repeated else 200
    return delivery


@router.get(
    "/runs/{workflow_id:path}",
    dependencies=[requires("runs:read")],
    tags=["runs"],
    response_model=RunSnapshot,
    responses={
        **NOT_FOUND,
        **TEMPORAL,
        504: {"model": ErrorDetail, "description": "No worker answered in time."},
    },
    summary="A run's live state, e.g. /runs/journey/onboarding/c-1",
)
async def get_run(workflow_id: str, service: Service) -> RunSnapshot:
    try:
        async with asyncio.timeout(RUN_QUERY_TIMEOUT):
            return await service.run_status(workflow_id)
    except TimeoutError as exc:
        # Temporal holds a query until a worker answers; without workers that is forever.
        raise HTTPException(
            504, f"no worker answered for run {workflow_id!r} within {RUN_QUERY_TIMEOUT:g} s"
        ) from exc
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        raise HTTPException(404, f"no run with workflow id {workflow_id!r}") from exc


# --- assembly ------------------------------------------------------------------------------


async def _no_route_without_a_key(request: Request, exc: Exception) -> Response:
    """A path no route matches (a workflow id with a newline, say) is 401 without a valid key,
    as every protected path is: authentication comes before anything about the path."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404 and exc.detail == "Not Found":
        try:
            authenticate(request)
        except HTTPException as refused:
            exc = refused
    return await http_exception_handler(request, exc)


def create_app(
    service: JourneyService,
    api_key: str,
    *,
    max_request_bytes: int = 1_048_576,
    max_batch_events: int = 1000,
    links: UnsubscribeLinks | None = None,
    survey_links: SurveyLinks | None = None,
    rate_limit_per_minute: int = 0,
    rate_limit_ingest_per_minute: int | None = None,
    metrics_public: bool = False,
    workspace_timezone: str = "UTC",
    temporal_ui_url: str = "http://127.0.0.1:8233",
    temporal_namespace: str = "default",
) -> FastAPI:
    """The API over `service`; requests must carry `api_key` (/metrics too, with a role
    holding metrics:read, unless `metrics_public`); `links` signs unsubscribe links."""
    if not api_key:
        raise ValueError("an API key is required (set JOURNEYS_API_KEY)")
    if max_request_bytes < 1 or max_batch_events < 1:
        raise ValueError("max_request_bytes and max_batch_events must be positive")
    # /docs and /redoc load Swagger UI and ReDoc from the installed package, not a CDN, so
    # they work on a machine without internet.
    app = FastAPIOffline(title="journeys", description=DESCRIPTION, openapi_tags=TAGS)
    app.state.service = service
    app.state.messaging = MessagingService(service, links)
    app.state.cases = CaseService(service)
    app.state.support = SupportService(service, survey_links)
    app.state.privacy = PrivacyService(service)
    app.state.api_key = api_key.encode()
    app.state.max_batch_events = max_batch_events
    app.state.rate_limiter = RateLimiter(rate_limit_per_minute, rate_limit_ingest_per_minute)
    app.state.metrics = registry_for(service.store)
    app.add_middleware(BodySizeLimit, max_bytes=max_request_bytes)
    for error in (UnknownCustomer, UnknownJourney, UnknownEnrollment, UnknownMessage):
        app.add_exception_handler(error, _error(404))
    app.add_exception_handler(JourneyPaused, _error(409))
    app.add_exception_handler(CustomerErased, _customer_erased)
    app.add_exception_handler(ConflictingEvent, _conflicting_event)
    app.add_exception_handler(RPCError, _temporal_error)
    app.add_exception_handler(RequestValidationError, validation_failed)
    app.add_exception_handler(StarletteHTTPException, _no_route_without_a_key)
    _document_batch_limit(app, max_batch_events)
    app.include_router(public)
    app.include_router(public_metrics if metrics_public else guarded_metrics)
    app.include_router(api_delivery.public)
    app.include_router(api_delivery.router)
    app.include_router(api_run_ops.router)
    app.include_router(api_catalog.router)
    app.include_router(api_impact.router)
    app.include_router(router)
    app.include_router(api_messages.public)
    app.include_router(api_messages.router)
    app.include_router(api_cases.router)
    app.include_router(api_support.public)
    app.include_router(api_support.router)
    app.include_router(api_privacy.router)
    app.include_router(api_keys.router)
    app.include_router(api_audit.router)
    app.include_router(api_broadcasts.router)
    console.mount(
        app,
        workspace_timezone=workspace_timezone,
        temporal_ui_url=temporal_ui_url,
        temporal_namespace=temporal_namespace,
    )
    instrument_api(app)
    return app


def _document_batch_limit(app: FastAPI, max_batch_events: int) -> None:
    """The document states this app's batch limit (a setting, so not in the model)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        spec = generate()
        events = spec["components"]["schemas"]["EventBatch"]["properties"]["events"]
        events["maxItems"] = max_batch_events
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def create_app_from_settings(settings: Settings) -> FastAPI:
    """The API as `journeys api` runs it: store and Temporal from JOURNEYS_* settings."""
    if not settings.api_key:
        raise ValueError("JOURNEYS_API_KEY is not set: the API refuses to run without a key")
    store = Store.open(settings.db_url)
    service = JourneyService(store, lambda: connect(settings), settings.temporal_task_queue)
    # Links in messages are signed by the workers with the same secret; without one the
    # unsubscribe and survey pages answer 503 rather than trust an unsigned link.
    secret = settings.secret_key or settings.stored_secret()
    app = create_app(
        service,
        settings.api_key,
        max_request_bytes=settings.max_request_bytes,
        max_batch_events=settings.max_batch_events,
        links=UnsubscribeLinks(secret, settings.public_url) if secret else None,
        survey_links=SurveyLinks(secret, settings.public_url) if secret else None,
        rate_limit_per_minute=settings.rate_limit_per_minute,
        rate_limit_ingest_per_minute=settings.rate_limit_ingest_per_minute,
        metrics_public=settings.metrics_public,
        workspace_timezone=settings.timezone,
        temporal_ui_url=settings.temporal_ui_url or settings.default_temporal_ui_url(),
        temporal_namespace=settings.temporal_namespace,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            store.close()

    app.router.lifespan_context = lifespan
    return app


# --- serving -------------------------------------------------------------------------------


def _bind(host: str, port: int) -> socket.socket:
    # Binding here raises OSError for a taken port, where uvicorn would call sys.exit.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _server(app: FastAPI, host: str, port: int, log_level: str) -> uvicorn.Server:
    # log_config=None: the process's own logging set-up stays in charge.
    return uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=log_level,
            log_config=None,
            timeout_graceful_shutdown=5,
        )
    )


async def serve(app: FastAPI, host: str, port: int, *, log_level: str = "warning") -> None:
    """Serve until SIGINT/SIGTERM (uvicorn's handlers) or cancellation."""
    sock = _bind(host, port)
    try:
        await _server(app, host, port, log_level).serve(sockets=[sock])
    finally:
        sock.close()


@asynccontextmanager
async def running(
    app: FastAPI, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning"
) -> AsyncIterator[str]:
    """Serve `app` in this event loop while the block runs; yields its base URL.

    Port 0 picks a free port.
    """
    sock = _bind(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    server = _server(app, host, bound_port, log_level)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                await task
                raise RuntimeError("the API server stopped while starting")
            await asyncio.sleep(0.01)
        url_host = f"[{bound_host}]" if ":" in bound_host else bound_host
        yield f"http://{url_host}:{bound_port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
