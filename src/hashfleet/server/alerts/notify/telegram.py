"""Telegram notifier: the Bot API's ``sendMessage`` with an HTML-formatted text.

Every value put into the text is HTML-escaped: alert descriptions and thing codes come from
devices and operators, and Telegram refuses a message with stray markup (or renders it).
A ``429`` answer's ``parameters.retry_after`` is the wait before the next attempt.
"""

from __future__ import annotations

import html
from typing import Any

import httpx

from hashfleet.server.alerts.notify.base import (
    ERR_NOTIFY_REJECTED,
    DeliveryError,
    Fields,
    Message,
    http_failure,
    parse_retry_after,
    transport_failure,
)

DEFAULT_API_URL = "https://api.telegram.org"
TEXT_MAX = 4096  # Telegram's limit on a message, in characters after entity parsing
VALUE_MAX = 1000  # per value, so one long description cannot push the rest out
KEYS = frozenset({"token", "chat_id", "api_url", "silent"})
ICONS = {"opened": "\U0001f6a8", "closed": "\u2705"}  # rotating light, check mark


def render(message: Message) -> str:
    """The message as Telegram HTML, every value escaped and the whole within the limit."""

    def esc(value: str) -> str:
        if len(value) > VALUE_MAX:
            value = value[: VALUE_MAX - 1] + "…"
        return html.escape(value, quote=False)

    icon = ICONS.get(message.event, "")
    lines = [f"{icon} <b>{esc(message.title())}</b>".strip()]
    for label, value in message.details():
        lines.append(f"{esc(label)}: <code>{esc(value)}</code>")
    text = "\n".join(lines)
    # Never cut inside a tag or an entity: drop whole lines from the end instead.
    while len(text) > TEXT_MAX and len(lines) > 1:
        lines.pop()
        text = "\n".join(lines)
    return text[:TEXT_MAX]


class TelegramNotifier:
    """Sends each message to one chat through a bot."""

    def __init__(
        self,
        name: str,
        token: str,
        chat_id: str | int,
        *,
        api_url: str = DEFAULT_API_URL,
        silent: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        self.name = name
        self.chat_id = chat_id
        self.silent = silent
        self.timeout_s = timeout_s
        self._url = f"{api_url.rstrip('/')}/bot{token}/sendMessage"  # holds the token: not logged
        self._client: httpx.AsyncClient | None = None

    @classmethod
    def from_config(cls, name: str, f: Fields, timeout_s: float) -> TelegramNotifier:
        """Build from a checked ``notifiers`` entry (``token``, ``chat_id``, ``api_url``)."""
        chat_id = f.cfg.get("chat_id")
        if isinstance(chat_id, bool) or not (
            isinstance(chat_id, int) or (isinstance(chat_id, str) and chat_id.strip())
        ):
            f.bad("chat_id is required (a number, or an @channel name)")
        token = f.str_("token", required=True)
        if any(c in token for c in "/?#") or any(c.isspace() for c in token):
            f.bad("token is not a bot token")
        return cls(
            name,
            token,
            chat_id,
            api_url=f.url("api_url", DEFAULT_API_URL),
            silent=f.bool_("silent", False),
            timeout_s=timeout_s,
        )

    def _http(self) -> httpx.AsyncClient:
        # Made on first use: the client belongs to the event loop that runs the deliveries.
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False)
        return self._client

    async def send(self, message: Message) -> None:
        """Call sendMessage; ``{"ok": true}`` is delivered."""
        what = f"telegram {self.name}"
        payload: dict[str, Any] = {
            "chat_id": self.chat_id,
            "text": render(message),
            "parse_mode": "HTML",
            "disable_web_page_preview": True,
            "disable_notification": self.silent,
        }
        try:
            resp = await self._http().post(self._url, json=payload)
        except httpx.TransportError as exc:
            raise transport_failure(what, exc) from None
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{what}: {type(exc).__name__}") from None
        try:
            body = resp.json()
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        if 200 <= resp.status_code < 300 and body.get("ok") is True:
            return
        params = body.get("parameters")
        retry_after = parse_retry_after(
            params.get("retry_after") if isinstance(params, dict) else None
        )
        if retry_after is None:
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        status = resp.status_code
        if 200 <= status < 300:
            # 200 without ok: not the Bot API (a proxy page?); retrying will not change it.
            raise DeliveryError(
                f"{what}: answer is not ok", code=ERR_NOTIFY_REJECTED, retryable=False
            )
        # Telegram's reason ("chat not found", "bot was blocked by the user") is what an
        # operator needs; it never echoes the token.
        description = body.get("description")
        detail = description[:200] if isinstance(description, str) else ""
        raise http_failure(what, status, retry_after, detail)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
