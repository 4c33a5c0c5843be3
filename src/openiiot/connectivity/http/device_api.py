"""The HTTP device API (architecture section 4): ThingsBoard payloads over HTTP, answered after the commit.

Requests go through the same ingest pipeline as MQTT messages; the handler waits for the message's `on_done`
on an asyncio future, so the event loop is never blocked while the batch is decoded and committed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from openiiot.connectivity.http.broker_hooks import add_broker_hook_routes
from openiiot.domain.credentials import token_matches
from openiiot.domain.errors import Overloaded
from openiiot.services.commands import CommandService
from openiiot.services.ingest import Channel, IngestMessage, IngestOutcome, IngestPipeline
from openiiot.services.payloads import RejectReason
from openiiot.services.ports import Clock, CredentialLookup, DeviceCredential

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://openiiot.dev/problems/"
RETRY_AFTER_S = 1


class _BodyTooLargeError(Exception):
    """The request body exceeds the payload limit."""


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    errors: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """An RFC 9457 problem-details response."""
    body: dict[str, Any] = {"type": PROBLEM_BASE + code, "title": title, "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/problem+json", headers=headers
    )


def _presented_token(request: Request) -> str | None:
    token = request.headers.get("x-device-token")
    if token:
        return token
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


async def _read_body(request: Request, max_bytes: int) -> bytes:
    """The body, refusing more than `max_bytes` without reading it all into memory."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _BodyTooLargeError
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _BodyTooLargeError
        chunks.append(chunk)
    return b"".join(chunks)


def _unauthorized() -> Response:
    # Same answer for an unknown device and a wrong token, so that device ids cannot be probed.
    return problem(
        401,
        "authentication-failed",
        "Authentication failed",
        "missing or wrong device token",
        headers={"WWW-Authenticate": 'Bearer realm="device"'},
    )


def _overloaded(detail: str) -> Response:
    return problem(
        503, "overloaded", "Ingest overloaded", detail, headers={"Retry-After": str(RETRY_AFTER_S)}
    )


def _answer(outcome: IngestOutcome) -> Response:
    if outcome.accepted == 0 and outcome.rejected:
        errors = [{"field": where, "reason": reason} for where, reason in outcome.examples]
        detail = "nothing in the message was valid: " + ", ".join(
            f"{reason} x{n}" for reason, n in sorted(outcome.rejected.items())
        )
        return problem(400, "validation-failed", "Invalid payload", detail, errors)
    body = {"accepted": outcome.accepted, "rejected": dict(outcome.rejected)}
    return Response(orjson.dumps(body), media_type="application/json")


def create_device_router(
    pipeline: IngestPipeline,
    lookup: CredentialLookup,
    clock: Clock,
    max_payload_bytes: int,
    *,
    submit_timeout_s: float = 1.0,
    reply_timeout_s: float = 30.0,
    commands: CommandService | None = None,
) -> APIRouter:
    """Routes `POST /api/v1/device/{device_id}/telemetry` and `.../attributes`, authenticated by token."""
    router = APIRouter(tags=["device API"])
    metrics = pipeline.metrics

    def count(reason: RejectReason) -> None:
        metrics.count_rejects({reason.value: 1})

    async def authenticate(device_id: str, request: Request) -> DeviceCredential | Response:
        token = _presented_token(request)
        credential = await run_in_threadpool(lookup.lookup, device_id) if token else None
        if token is None or credential is None or not token_matches(token, credential.token_hash):
            count(RejectReason.UNAUTHORIZED)
            return _unauthorized()
        if credential.disabled:
            count(RejectReason.DEVICE_DISABLED)
            return problem(403, "permission-denied", "Device disabled", "this device is disabled")
        return credential

    async def ingest(device_id: str, channel: Channel, request: Request) -> Response:
        checked = await authenticate(device_id, request)
        if isinstance(checked, Response):
            return checked
        try:
            payload = await _read_body(request, max_payload_bytes)
        except _BodyTooLargeError:
            count(RejectReason.TOO_LARGE)
            return problem(
                413,
                "payload-too-large",
                "Payload too large",
                f"the payload limit is {max_payload_bytes} bytes",
                [{"field": "$", "reason": RejectReason.TOO_LARGE.value}],
            )
        loop = asyncio.get_running_loop()
        done: asyncio.Future[IngestOutcome] = loop.create_future()

        def on_done(outcome: IngestOutcome) -> None:  # runs on the ingest worker thread
            loop.call_soon_threadsafe(_resolve, done, outcome)

        message = IngestMessage(device_id, channel, payload, clock.now_ms(), on_done)
        try:
            await run_in_threadpool(pipeline.submit, message, timeout_s=submit_timeout_s)
        except Overloaded as exc:
            return _overloaded(str(exc))
        try:
            outcome = await asyncio.wait_for(done, reply_timeout_s)
        except TimeoutError:
            # The message may still be committed later; a retry is harmless (writes are idempotent).
            log.warning("device request not committed in time", extra={"device_id": device_id})
            return _overloaded("the data was not committed in time; retry")
        return _answer(outcome)

    # before the `{device_id}` routes: an external broker asks here whether a device may connect or act
    add_broker_hook_routes(router, lookup, metrics)

    @router.post("/api/v1/device/{device_id}/telemetry", summary="Post telemetry (ThingsBoard JSON)")
    async def post_telemetry(device_id: str, request: Request) -> Response:
        """Telemetry: `{"key": value}`, `{"ts": ms, "values": {...}}`, or a list of these."""
        return await ingest(device_id, Channel.TELEMETRY, request)

    @router.post("/api/v1/device/{device_id}/attributes", summary="Post client attributes")
    async def post_attributes(device_id: str, request: Request) -> Response:
        """Client attributes: `{"key": any JSON value}`."""
        return await ingest(device_id, Channel.ATTRIBUTES, request)

    if commands is not None:
        _add_command_routes(router, commands, authenticate, max_payload_bytes)
    return router


MAX_POLL_S = 60


def _add_command_routes(
    router: APIRouter, commands: CommandService, authenticate: Any, max_payload_bytes: int
) -> None:
    @router.get("/api/v1/device/{device_id}/rpc", summary="Wait for the next command (long-poll)")
    async def poll_command(device_id: str, request: Request, timeout_s: float = 20.0) -> Response:
        """The oldest queued command `{"id", "method", "params"}` (200), or 204 after `timeout_s` (max 60)."""
        checked = await authenticate(device_id, request)
        if isinstance(checked, Response):
            return checked
        if not 0 <= timeout_s <= MAX_POLL_S:
            return problem(422, "validation-failed", "Invalid timeout", f"timeout_s must be 0-{MAX_POLL_S}",
                           [{"field": "timeout_s", "reason": "out of range"}])  # fmt: skip
        command = await run_in_threadpool(commands.next_for_http, device_id, timeout_s)
        if command is None:
            return Response(status_code=204)
        body = {"id": command.id, "method": command.method, "params": dict(command.params)}
        return Response(orjson.dumps(body), media_type="application/json")

    @router.post("/api/v1/device/{device_id}/rpc/{rpc_id}", summary="Answer a command")
    async def answer_command(device_id: str, rpc_id: str, request: Request) -> Response:
        """The answer: `{"result": ...}` or `{"error": "..."}` (any other JSON value counts as the result)."""
        checked = await authenticate(device_id, request)
        if isinstance(checked, Response):
            return checked
        try:
            payload = await _read_body(request, max_payload_bytes)
        except _BodyTooLargeError:
            return problem(413, "payload-too-large", "Payload too large",
                           f"the payload limit is {max_payload_bytes} bytes")  # fmt: skip
        known = await run_in_threadpool(commands.on_response, device_id, rpc_id, payload)
        if not known:
            return problem(404, "not-found", "Not found", f"this device has no command {rpc_id}")
        return Response(status_code=202)


def _resolve(future: asyncio.Future[IngestOutcome], outcome: IngestOutcome) -> None:
    if not future.done():  # the client may have gone away and the request been cancelled
        future.set_result(outcome)
