"""A local SMS and webhook provider for the dev stack and the tests: real HTTP, kept messages.

It behaves as a careful provider does: a request repeating an `Idempotency-Key` it accepted
before gets the original message id back and is not a second message. Webhooks are checked
against the shared secret when one is given. For failure tests it can be told to answer the
next requests with an error status, or to take a request and hold the answer back.

    POST /sms, POST /webhook     a message (JSON); answers {"id": ...}
    GET  /messages?channel=sms   what was accepted, oldest first
    POST /control                {"fail": 503, "times": 2} | {"hold": 30.0} | {"reset": true}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from activities.http_channel import IDEMPOTENCY_HEADER
from domain.webhook_signature import SignatureError, verify_webhook_signature


@dataclass
class SinkState:
    directory: Path | None = None
    webhook_secret: str | None = None
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> message
    requests: int = 0
    fail_status: int | None = None
    fail_times: int = 0
    hold_seconds: float = 0.0
    received: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)  # ends every hold at once

    def release(self) -> None:
        self.hold_seconds = 0.0
        self.released.set()

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        return [m for m in self.accepted.values() if channel in (None, m["channel"])]


def provider_sink(directory: Path | None = None, webhook_secret: str | None = None) -> FastAPI:
    """The provider as an ASGI app; `app.state.sink` is its SinkState."""
    state = SinkState(directory=directory, webhook_secret=webhook_secret)
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    app = FastAPI(title="journeys provider sink")
    app.state.sink = state

    async def accept(channel: str, request: Request) -> JSONResponse:
        state.requests += 1
        body = await request.body()
        if state.fail_times > 0 and state.fail_status is not None:
            state.fail_times -= 1
            return JSONResponse({"error": "injected failure"}, status_code=state.fail_status)
        if channel == "webhook" and state.webhook_secret:
            try:
                verify_webhook_signature(
                    state.webhook_secret, body, dict(request.headers), datetime.now(UTC)
                )
            except SignatureError as exc:
                return JSONResponse({"error": str(exc)}, status_code=401)
        try:
            payload = json.loads(body)
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, status_code=400)
        if channel == "sms" and not str(payload.get("to", "")).startswith("+"):
            return JSONResponse({"error": "'to' is not an E.164 number"}, status_code=400)
        key = request.headers.get(IDEMPOTENCY_HEADER) or uuid.uuid4().hex
        earlier = state.accepted.get(key)
        if earlier is None:
            earlier = {
                "id": f"{channel}-{uuid.uuid4().hex[:12]}",
                "channel": channel,
                "key": key,
                "payload": payload,
                "at": datetime.now(UTC).isoformat(),
            }
            state.accepted[key] = earlier
            if state.directory is not None:
                with (state.directory / f"{channel}.jsonl").open("a", encoding="utf-8") as out:
                    out.write(json.dumps(earlier) + "\n")
        state.received.set()
        if state.hold_seconds:  # accepted, but the answer is late (or never comes)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.released.wait(), state.hold_seconds)
        return JSONResponse({"id": earlier["id"]})

    @app.post("/sms")
    async def sms(request: Request) -> JSONResponse:
        return await accept("sms", request)

    @app.post("/webhook")
    async def webhook(request: Request) -> JSONResponse:
        return await accept("webhook", request)

    @app.get("/messages")
    async def messages(channel: str | None = None) -> list[dict[str, Any]]:
        return state.messages(channel)

    @app.post("/control")
    async def control(command: dict[str, Any]) -> dict[str, Any]:
        if command.get("reset"):
            state.fail_status, state.fail_times = None, 0
            state.release()
        if "fail" in command:
            state.fail_status = int(command["fail"])
            state.fail_times = int(command.get("times", 1))
        if "hold" in command:
            state.hold_seconds = float(command["hold"])
            state.released.clear()
        return {"requests": state.requests, "accepted": len(state.accepted)}

    return app
