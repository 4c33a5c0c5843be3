"""Webhook channel: POST the notification as JSON, signed with HMAC-SHA256 of the raw body."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from openiiot.domain.errors import DeliveryFailed
from openiiot.domain.notifications import ChannelKind, NotificationMessage

SIGNATURE_HEADER = "X-OpenIIoT-Signature"
TIMESTAMP_HEADER = "X-OpenIIoT-Timestamp"
DELIVERY_HEADER = "X-OpenIIoT-Delivery"
# besides 5xx: the receiver asks us to come back later
_RETRYABLE_4XX = frozenset({408, 425, 429})


def sign(body: bytes, secret: str) -> str:
    """The signature header value: `sha256=` + hex HMAC-SHA256 of the raw body with the rule's secret."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, header: str) -> bool:
    """True when `header` is the signature of `body` (constant-time; for receivers and tests)."""
    return hmac.compare_digest(sign(body, secret), header)


class WebhookChannel:
    """Sends notifications to HTTP endpoints; 5xx, 408/429 and network errors are worth a retry."""

    kind = ChannelKind.WEBHOOK.value

    def __init__(
        self, *, timeout_s: float = 10.0, transport: httpx.BaseTransport | None = None, user_agent: str = ""
    ) -> None:
        self._client = httpx.Client(
            timeout=timeout_s,
            transport=transport,
            follow_redirects=False,  # a redirect could carry the signed payload somewhere unexpected
            headers={"User-Agent": user_agent or "OpenIIoT-Webhook/1"},
        )

    def send(self, message: NotificationMessage, target: Mapping[str, Any]) -> int:
        """POST the message and return the 2xx status; DeliveryFailed for anything else."""
        body = orjson.dumps(message.as_dict())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, str(target["secret"])),
            TIMESTAMP_HEADER: str(int(time.time() * 1000)),  # UTC milliseconds when sent
            DELIVERY_HEADER: message.delivery_id,
        }
        try:
            response = self._client.post(str(target["url"]), content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise DeliveryFailed(f"webhook timed out: {exc}", retryable=True) from exc
        except httpx.TransportError as exc:
            raise DeliveryFailed(f"webhook unreachable: {exc}", retryable=True) from exc
        except httpx.InvalidURL as exc:
            raise DeliveryFailed(f"invalid webhook URL: {exc}", retryable=False) from exc
        code = response.status_code
        if 200 <= code < 300:
            return code
        retryable = code >= 500 or code in _RETRYABLE_4XX
        raise DeliveryFailed(
            f"webhook answered HTTP {code}: {response.text[:200]}", retryable=retryable, status_code=code
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
