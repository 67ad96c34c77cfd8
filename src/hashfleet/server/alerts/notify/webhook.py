"""Webhook notifier: the alert event POSTed as JSON, signed with HMAC-SHA256.

Body: ``{"event", "alert", "thing", "sent_at"}`` (``sent_at`` in ms, like every hashfleet
timestamp). Headers: ``X-Hashfleet-Timestamp`` (Unix seconds), ``X-Hashfleet-Signature:
sha256=<hex>`` = HMAC-SHA256 with ``secret`` over ``f"{timestamp}.{body}"`` (only when a
secret is configured), ``X-Hashfleet-Event`` and ``X-Hashfleet-Delivery`` (``<alert
id>.<event>``, the same on every retry, so a receiver can drop repeats). Each attempt is
signed afresh, so a receiver may refuse timestamps older than a few minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any

import httpx
import msgspec

from hashfleet.core.clock import now_ms
from hashfleet.server.alerts.notify.base import (
    DeliveryError,
    Fields,
    Message,
    http_failure,
    parse_retry_after,
    transport_failure,
)

SIGNATURE_HEADER = "X-Hashfleet-Signature"
TIMESTAMP_HEADER = "X-Hashfleet-Timestamp"
EVENT_HEADER = "X-Hashfleet-Event"
DELIVERY_HEADER = "X-Hashfleet-Delivery"
OWN_HEADERS = frozenset(
    h.lower() for h in (SIGNATURE_HEADER, TIMESTAMP_HEADER, EVENT_HEADER, DELIVERY_HEADER)
) | {"content-type", "content-length", "host"}
KEYS = frozenset({"url", "secret", "headers"})


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Hashfleet-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookNotifier:
    """POSTs each message to ``url``."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        secret: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.name = name
        self.url = url
        self.secret = secret
        self.headers = dict(headers or {})
        self.timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    @classmethod
    def from_config(cls, name: str, f: Fields, timeout_s: float) -> WebhookNotifier:
        """Build from a checked ``notifiers`` entry (``url``, ``secret``, ``headers``)."""
        headers = f.str_map("headers")
        if clash := sorted(h for h in headers if h.lower() in OWN_HEADERS):
            f.bad(f"headers may not set {clash}")
        return cls(
            name, f.url("url"), secret=f.opt_str("secret"), headers=headers, timeout_s=timeout_s
        )

    def _http(self) -> httpx.AsyncClient:
        # Made on first use: the client belongs to the event loop that runs the deliveries.
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False)
        return self._client

    def request(self, message: Message) -> tuple[bytes, dict[str, str]]:
        """The body and headers of one attempt (signed now)."""
        doc: dict[str, Any] = {
            "event": message.event,
            "alert": message.alert,
            "thing": message.thing,
            "sent_at": now_ms(),
        }
        body = msgspec.json.encode(doc)
        timestamp = str(int(time.time()))
        headers = {
            **self.headers,
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            EVENT_HEADER: message.event,
            DELIVERY_HEADER: message.key,
        }
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, timestamp, body)
        return body, headers

    async def send(self, message: Message) -> None:
        """POST the message; any 2xx is delivered."""
        body, headers = self.request(message)
        what = f"webhook {self.name}"
        try:
            resp = await self._http().post(self.url, content=body, headers=headers)
        except httpx.TransportError as exc:
            raise transport_failure(what, exc) from None
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{what}: {type(exc).__name__}") from None
        if not 200 <= resp.status_code < 300:
            raise http_failure(
                what, resp.status_code, parse_retry_after(resp.headers.get("Retry-After"))
            )

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
