"""Device authentication and topic authorisation for brokers that ask over HTTP (docs/deploy-broker.md).

The same device contract as the embedded broker and Mosquitto's dynamic security: username = device id,
password = access token, a device publishes only its telemetry, attributes and RPC responses and
subscribes only under `v1/devices/{its id}/`. Two dialects:

- EMQX HTTP authentication and authorisation: `POST /api/v1/device/broker/auth` with
  `{"username", "password", "clientid"}` → `{"result": "allow"|"deny", "is_superuser": false}`, and
  `POST /api/v1/device/broker/acl` with `{"username", "clientid", "topic", "action"}` → `{"result": ...}`.
- VerneMQ webhooks: `POST /api/v1/device/broker/vernemq/auth_on_register`, `.../auth_on_publish`,
  `.../auth_on_subscribe` → `{"result": "ok"}` or `{"result": {"error": "not_allowed"}}`.

Answers are always 200 with a decision in the body (both brokers treat other statuses as failures of the
auth service, not as refusals). Only device accounts are answered: the platform's own service user must be
configured in the broker itself (EMQX built-in database ahead of HTTP in the chain, VerneMQ vmq_passwd).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from openiiot.connectivity.mqtt.topics import device_may_publish, device_may_subscribe
from openiiot.domain.credentials import token_matches
from openiiot.services.metrics import IngestMetrics
from openiiot.services.payloads import RejectReason
from openiiot.services.ports import CredentialLookup

log = logging.getLogger(__name__)

#: client ids of the platform's own MQTT clients; a device may not take them over (as in the embedded broker)
RESERVED_CLIENT_ID_PREFIX = "openiiot-"
MAX_HOOK_BODY = 64 * 1024


def _json(body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_HOOK_BODY:
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def add_broker_hook_routes(router: APIRouter, lookup: CredentialLookup, metrics: IngestMetrics) -> None:
    """Add the EMQX and VerneMQ routes to the device router."""

    def count(reason: RejectReason) -> None:
        metrics.count_rejects({reason.value: 1})

    def login_ok(username: str, password: str, client_id: str) -> bool:
        if not username or not password:
            count(RejectReason.UNAUTHORIZED)
            return False
        if client_id.startswith(RESERVED_CLIENT_ID_PREFIX):
            count(RejectReason.UNAUTHORIZED)
            return False
        credential = lookup.lookup(username)
        if credential is None or not token_matches(password, credential.token_hash):
            count(RejectReason.UNAUTHORIZED)
            return False
        if credential.disabled:
            count(RejectReason.DEVICE_DISABLED)
            return False
        return True

    def enabled_device(username: str) -> bool:
        # authorisation runs after authentication, but a device disabled or deleted since must stop too
        credential = lookup.lookup(username) if username else None
        return credential is not None and not credential.disabled

    def may(username: str, action: str, topic: str) -> bool:
        if action == "publish":
            allowed = device_may_publish(username, topic)
        elif action == "subscribe":
            allowed = device_may_subscribe(username, topic)
        else:  # EMQX "all" (or anything unknown): both must hold
            allowed = device_may_publish(username, topic) and device_may_subscribe(username, topic)
        return allowed and enabled_device(username)

    @router.post("/api/v1/device/broker/auth", summary="EMQX HTTP authentication of a device")
    async def emqx_auth(request: Request) -> Response:
        """`{"username", "password", "clientid"}` → `{"result": "allow"|"deny", "is_superuser": false}`."""
        body = await _body(request)
        ok = await run_in_threadpool(
            login_ok, _text(body.get("username")), _text(body.get("password")), _text(body.get("clientid"))
        )
        return _json({"result": "allow" if ok else "deny", "is_superuser": False})

    @router.post("/api/v1/device/broker/acl", summary="EMQX HTTP authorisation of a publish or subscribe")
    async def emqx_acl(request: Request) -> Response:
        """`{"username", "clientid", "topic", "action": "publish"|"subscribe"}` → `{"result": ...}`."""
        body = await _body(request)
        ok = await run_in_threadpool(
            may, _text(body.get("username")), _text(body.get("action")), _text(body.get("topic"))
        )
        return _json({"result": "allow" if ok else "deny"})

    not_allowed = {"result": {"error": "not_allowed"}}

    @router.post("/api/v1/device/broker/vernemq/auth_on_register", summary="VerneMQ webhook: CONNECT")
    async def vernemq_register(request: Request) -> Response:
        """`{"username", "password", "client_id", ...}` → `{"result": "ok"}` or not_allowed."""
        body = await _body(request)
        ok = await run_in_threadpool(
            login_ok, _text(body.get("username")), _text(body.get("password")), _text(body.get("client_id"))
        )
        return _json({"result": "ok"} if ok else not_allowed)

    @router.post("/api/v1/device/broker/vernemq/auth_on_publish", summary="VerneMQ webhook: PUBLISH")
    async def vernemq_publish(request: Request) -> Response:
        """`{"username", "client_id", "topic", ...}` → `{"result": "ok"}` or not_allowed."""
        body = await _body(request)
        ok = await run_in_threadpool(may, _text(body.get("username")), "publish", _text(body.get("topic")))
        return _json({"result": "ok"} if ok else not_allowed)

    @router.post("/api/v1/device/broker/vernemq/auth_on_subscribe", summary="VerneMQ webhook: SUBSCRIBE")
    async def vernemq_subscribe(request: Request) -> Response:
        """`{"username", "topics": [{"topic", "qos"}]}`: ok when every filter is allowed, else not_allowed."""
        body = await _body(request)
        username = _text(body.get("username"))
        topics = body.get("topics")
        filters = (
            [_text(t.get("topic")) for t in topics if isinstance(t, dict)] if isinstance(topics, list) else []
        )

        def all_allowed() -> bool:
            return bool(filters) and all(may(username, "subscribe", f) for f in filters)

        ok = await run_in_threadpool(all_allowed)
        return _json({"result": "ok"} if ok else not_allowed)
