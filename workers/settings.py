"""Settings every process reads: `JOURNEYS_*` environment variables, embedded defaults."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.timezones import check_timezone

REPO_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JOURNEYS_", extra="ignore")

    data_dir: Path = Field(
        default=Path(".journeys"), description="Where the dev stack keeps files."
    )
    database_url: str = Field(default="", description="SQLAlchemy URL; SQLite file when empty.")
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "journeys"
    temporal_tls: bool = False
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_api_key: str | None = None
    temporal_ui_port: int = 8233
    temporal_ui_url: str | None = Field(
        default=None,
        description="The Temporal Web UI's address, for the console's links to a run "
        "(default: the dev stack's UI on the Temporal host at JOURNEYS_TEMPORAL_UI_PORT).",
    )
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_sender: str = "journeys@localhost"
    smtp_tls: Literal["off", "starttls", "tls"] = Field(
        default="off",
        description="starttls (port 587), tls (implicit, port 465) or off (the dev capture); "
        "the relay's certificate is verified whenever TLS is on.",
    )
    smtp_username: str | None = Field(
        default=None, description="SMTP AUTH login; needs JOURNEYS_SMTP_TLS starttls or tls."
    )
    smtp_password: str | None = Field(default=None, description="SMTP AUTH password.")
    smtp_ca_file: Path | None = Field(
        default=None,
        description="PEM file of a private CA that signed the relay's certificate "
        "(then only that CA is trusted).",
    )
    smtp_timeout: float = Field(
        default=30.0, gt=0, description="Seconds each SMTP step may take before it is retried."
    )
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_key: str | None = None
    max_request_bytes: int = 1_048_576
    max_batch_events: int = 1000
    rate_limit_per_minute: int = Field(
        default=600,
        ge=0,
        description="Requests a minute each API key may send, counted per API process; "
        "0 is off. Ingest keys are not limited unless JOURNEYS_RATE_LIMIT_INGEST_PER_MINUTE.",
    )
    rate_limit_ingest_per_minute: int | None = Field(
        default=None, ge=0, description="Requests a minute each ingest key may send; unset: off."
    )
    journeys_dir: Path = REPO_ROOT / "journeys"
    segments_file: Path = Field(
        default=REPO_ROOT / "journeys" / "segments" / "segments.yaml",
        description="Named segments that audiences and `journeys segments` use.",
    )
    policy_file: Path = Field(
        default=REPO_ROOT / "journeys" / "policy" / "send_policy.yaml",
        description="Quiet hours and frequency caps (domain/send_policy.py).",
    )
    sms_url: str | None = Field(default=None, description="SMS provider endpoint (POST JSON).")
    sms_token: str | None = None
    webhook_url: str | None = Field(default=None, description="Webhook endpoint (POST JSON).")
    webhook_secret: str | None = Field(
        default=None, description="Signs webhook bodies (HMAC-SHA256); the dev stack makes one."
    )
    provider_port: int = Field(default=8025, description="The dev stack's SMS/webhook sink.")
    secret_key: str | None = Field(
        default=None,
        description="Signs unsubscribe, survey and tracking links; required by `journeys api` "
        "and `journeys worker` (the same value in every process); the dev stack generates one.",
    )
    secret_key_previous: str | None = Field(
        default=None,
        description="The key before a rotation: links it signed are still accepted, new links "
        "are signed with JOURNEYS_SECRET_KEY only.",
    )
    public_url: str = Field(
        default="",
        description="Base URL customers reach the HTTP entrypoint at (links in messages); "
        "the API's own address, http://API_HOST:API_PORT, when empty.",
    )
    timezone: str = Field(
        default="UTC",
        description="Workspace timezone: audience schedules that set none run in it.",
    )
    support_roster: str = Field(
        default="", description="Agents new complaint cases are assigned to, e.g. lin,mo,kai."
    )
    tracking: bool = Field(
        default=True, description="Open pixel and tracked links in HTML email (needs a secret)."
    )
    worker_shutdown_grace_seconds: float = Field(
        default=8.0,
        ge=0,
        description="On SIGTERM or Ctrl-C a worker stops polling and gives running activities "
        "this long to finish before it cancels them.",
    )
    max_cached_workflows: int = Field(
        default=1000,
        ge=0,
        description="Workflow runs a worker keeps in memory; the rest replay when they wake.",
    )
    max_concurrent_workflow_tasks: int = Field(
        default=64,
        ge=2,
        le=1000,
        description="Workflow tasks a worker runs at once (they share its one Python thread "
        "of execution: more at once makes each one take longer).",
    )
    log_level: str = "INFO"
    log_json: bool = False
    otel_console: bool = Field(default=False, description="Print OpenTelemetry spans to stderr.")
    otel_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP collector traces are sent to, e.g. http://127.0.0.1:4318.",
    )
    metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Where a worker serves Prometheus metrics (/metrics); 0 is off.",
    )
    metrics_public: bool = Field(
        default=False, description="Serve the API's /metrics without the API key."
    )
    temporal_metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Where the Temporal SDK serves its own Prometheus metrics; 0 is off.",
    )

    @model_validator(mode="after")
    def _links_reach_this_api(self) -> Settings:
        if not self.public_url:
            self.public_url = f"http://{self.api_host}:{self.api_port}"
        return self

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            return check_timezone(value)
        except ValueError as exc:
            raise ValueError(f"JOURNEYS_TIMEZONE: {exc}") from None

    @property
    def roster(self) -> list[str]:
        return [name.strip() for name in self.support_roster.split(",") if name.strip()]

    def stored_secret(self) -> str | None:
        """The signing secret the dev stack generated into the data dir, if there is one."""
        path = self.data_dir / "secret_key"
        return path.read_text().strip() if path.exists() else None

    def default_temporal_ui_url(self) -> str:
        """The dev stack's Web UI: on the Temporal server's host, at JOURNEYS_TEMPORAL_UI_PORT."""
        host = self.temporal_address.rsplit(":", 1)[0] or "127.0.0.1"
        return f"http://{host}:{self.temporal_ui_port}"

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'journeys.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
