"""Structured logging (structlog) and tracing (OpenTelemetry), set up once per process."""

from __future__ import annotations

import logging
import sys

import structlog

from workers.settings import Settings
from workers.tracing import configure_tracing

JOURNEY_FIELDS = ("journey", "version", "customer", "step", "run")

# Loggers of our own code (stdlib logging; the product's own lines go through structlog), and
# the two temporalio loggers our activities and workflows log through ("message sent"). Every
# other logger is a library's (aiosmtpd's `mail.log` logs each SMTP connection, Alembic each
# migration, uvicorn, httpx, the Temporal SDK): at INFO those are noise, logged from WARNING.
OWN_LOGGERS = (
    "temporalio.activity",
    "temporalio.workflow",
    "journeys",
    "domain",
    "store",
    "activities",
    "workflows",
    "workers",
    "entrypoints",
    "app",
)
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def levels(name: str) -> tuple[int, int]:
    """The level of our own logs and of the libraries' for JOURNEYS_LOG_LEVEL=`name`:
    INFO keeps libraries at WARNING, DEBUG shows everything, WARNING and above apply to all."""
    level = logging.getLevelName(name.strip().upper())
    if not isinstance(level, int):
        raise ValueError(f"JOURNEYS_LOG_LEVEL={name!r} is not one of {', '.join(LEVELS)}")
    libraries = level if level <= logging.DEBUG else max(level, logging.WARNING)
    return level, libraries


def configure(settings: Settings) -> None:
    try:
        level, libraries = levels(settings.log_level)
        unknown = ""
    except ValueError as exc:
        (level, libraries), unknown = levels("INFO"), str(exc)
    logging.basicConfig(level=libraries, stream=sys.stderr, format="%(message)s")
    logging.getLogger().setLevel(libraries)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(level)
    renderer = (
        structlog.processors.JSONRenderer()
        if settings.log_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )
    configure_tracing(settings)
    if unknown:
        log().warning(f"{unknown}; logging at INFO")


def log() -> structlog.stdlib.BoundLogger:
    return structlog.get_logger("journeys")
