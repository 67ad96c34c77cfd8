"""What every notifier shares: the message, the protocol, delivery errors, config checks.

A :class:`Message` is built once per routed alert event and handed to each notifier's
``send``. ``send`` either returns (delivered) or raises :class:`DeliveryError`, whose
``retryable`` flag and ``retry_after`` tell the router whether and when to try again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn, Protocol
from urllib.parse import urlsplit

import httpx
import msgspec

from hashfleet.core.errors import BadRequest, HashfleetError

OPENED = "opened"
CLOSED = "closed"
EVENTS = (OPENED, CLOSED)

# Error codes of a failed delivery (the ``last_error`` of a notifier's stats).
ERR_NOTIFY_REJECTED = "ERR_NOTIFY_REJECTED"  # the receiver refused it: not retried
ERR_NOTIFY_UNAVAILABLE = "ERR_NOTIFY_UNAVAILABLE"  # unreachable, 5xx, 429, 408: retried
ERR_NOTIFY_TIMEOUT = "ERR_NOTIFY_TIMEOUT"  # no answer in time: retried
ERR_NOTIFY_INTERNAL = "ERR_NOTIFY_INTERNAL"  # a bug in a notifier: not retried
ERR_CONFIG_INVALID = "ERR_CONFIG_INVALID"

# The thing fields a message carries; the rest of the registry doc (opts, last) stays home.
THING_FIELDS = ("id", "code", "type", "rack", "tags")


class Message(msgspec.Struct, kw_only=True, frozen=True):
    """One alert event for one notifier: ``event`` is ``opened`` or ``closed``."""

    event: str
    alert: dict[str, Any]
    thing: dict[str, Any]  # id, code, type, rack, tags; only ``id`` for an unknown thing

    @property
    def key(self) -> str:
        """Stable id of this delivery (the same on every retry): ``<alert id>.<event>``."""
        return f"{self.alert.get('id')}.{self.event}"

    @property
    def severity(self) -> str:
        """The alert's severity."""
        return str(self.alert.get("severity", ""))

    @property
    def thing_label(self) -> str:
        """How people know the thing: its code, else its id."""
        return str(self.thing.get("code") or self.thing.get("id") or self.alert.get("thing_id"))

    def title(self) -> str:
        """One line: ``[HIGH] opened: Chip temperature high on m1``."""
        name = str(self.alert.get("name", ""))
        return f"[{self.severity.upper()}] {self.event}: {name} on {self.thing_label}"

    def details(self) -> list[tuple[str, str]]:
        """Label/value lines for human-readable bodies (plain text and HTML)."""
        a, t = self.alert, self.thing
        out = [("description", str(a.get("description", "")))]
        out.append(("thing", self.thing_label))
        if t.get("type"):
            out.append(("type", str(t["type"])))
        if t.get("rack"):
            out.append(("rack", str(t["rack"])))
        out.append(("code", str(a.get("code", ""))))
        out.append(("opened at", _when(a.get("created_at"))))
        if a.get("closed_at") is not None:
            out.append(("closed at", _when(a.get("closed_at"))))
        out.append(("alert id", str(a.get("id", ""))))
        return out

    def text(self) -> str:
        """The message as plain text (e-mail body)."""
        lines = [self.title(), ""]
        lines += [f"{label}: {value}" for label, value in self.details()]
        return "\n".join(lines) + "\n"


def _when(ms: Any) -> str:
    if not isinstance(ms, int):
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def thing_info(doc: Mapping[str, Any] | None, thing_id: str) -> dict[str, Any]:
    """The fields of a registry doc a message carries (just the id when it is unknown)."""
    if doc is None:
        return {"id": thing_id}
    out = {k: doc[k] for k in THING_FIELDS if k in doc}
    out["id"] = thing_id
    return out


class DeliveryError(HashfleetError):
    """A notifier could not deliver a message."""

    code = ERR_NOTIFY_UNAVAILABLE
    status = 502

    def __init__(
        self,
        message: str,
        *,
        code: str = ERR_NOTIFY_UNAVAILABLE,
        retryable: bool = True,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.retryable = retryable
        self.retry_after = retry_after


def http_failure(
    what: str, status: int, retry_after: float | None = None, detail: str = ""
) -> DeliveryError:
    """The error for an HTTP answer ``status``: only 5xx, 408 and 429 are retried.

    A redirect counts as refused: notifiers do not follow them (a moved endpoint is a
    config to fix, and following would carry the signature somewhere else).
    """
    retryable = status >= 500 or status in (408, 429)
    code = ERR_NOTIFY_UNAVAILABLE if retryable else ERR_NOTIFY_REJECTED
    text = f"{what} answered HTTP {status}" + (f": {detail}" if detail else "")
    return DeliveryError(text, code=code, retryable=retryable, retry_after=retry_after)


def transport_failure(what: str, exc: httpx.TransportError) -> DeliveryError:
    """The (retried) error for a connection that failed or timed out."""
    if isinstance(exc, httpx.TimeoutException):
        return DeliveryError(f"{what} did not answer in time", code=ERR_NOTIFY_TIMEOUT)
    # The class name, not str(exc): some messages carry the URL, and a URL may hold a token.
    return DeliveryError(f"{what} unreachable ({type(exc).__name__})")


def parse_retry_after(value: Any) -> float | None:
    """Seconds from a ``Retry-After`` header or Telegram's ``retry_after`` (seconds only)."""
    if isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None  # an HTTP date: rare from the receivers we talk to; backoff applies
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


class Notifier(Protocol):
    """Delivers messages to one destination."""

    name: str

    async def send(self, message: Message) -> None:
        """Deliver ``message`` or raise :class:`DeliveryError`."""

    async def aclose(self) -> None:
        """Release connections."""


# -- config checks (shared by the notifier types) ---------------------------------------


def bad_config(where: str, message: str) -> NoReturn:
    """Fail start-up: ``notifiers`` config is invalid."""
    raise BadRequest(f"notifiers config: {where}: {message}", code=ERR_CONFIG_INVALID)


class Fields:
    """Typed reads of one notifier's config entry; every mistake is ERR_CONFIG_INVALID."""

    def __init__(self, where: str, cfg: Mapping[str, Any]) -> None:
        self.where = where
        self.cfg = cfg

    def bad(self, message: str) -> NoReturn:
        """Fail on this entry."""
        bad_config(self.where, message)

    def str_(self, key: str, default: str | None = None, *, required: bool = False) -> str:
        """A non-empty string."""
        value = self.cfg.get(key)
        if value is None:
            if required or default is None:
                self.bad(f"{key} is required (a non-empty string)")
            return default
        if not isinstance(value, str) or not value.strip():
            self.bad(f"{key} must be a non-empty string")
        return value

    def opt_str(self, key: str) -> str | None:
        """A non-empty string or nothing."""
        return self.str_(key) if self.cfg.get(key) is not None else None

    def bool_(self, key: str, default: bool) -> bool:
        """A boolean."""
        value = self.cfg.get(key, default)
        if not isinstance(value, bool):
            self.bad(f"{key} must be true or false")
        return value

    def int_(self, key: str, default: int, lo: int, hi: int) -> int:
        """An integer in ``[lo, hi]``."""
        value = self.cfg.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            self.bad(f"{key} must be an integer from {lo} to {hi}")
        return value

    def float_(self, key: str, default: float, lo: float, hi: float) -> float:
        """A number in ``(lo, hi]``."""
        value = self.cfg.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or not lo < value <= hi
        ):
            self.bad(f"{key} must be a number above {lo:g} and at most {hi:g}")
        return float(value)

    def str_list(self, key: str, *, allowed: tuple[str, ...] = ()) -> list[str] | None:
        """A non-empty list of strings (from ``allowed`` when given), or nothing."""
        value = self.cfg.get(key)
        if value is None:
            return None
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, str) and v for v in value)
        ):
            self.bad(f"{key} must be a non-empty list of strings")
        if allowed and (extra := sorted(set(value) - set(allowed))):
            self.bad(f"{key}: unknown {extra}; one of {list(allowed)}")
        return list(value)

    def str_map(self, key: str) -> dict[str, str]:
        """An object of string → string."""
        value = self.cfg.get(key, {})
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and k and isinstance(v, str) for k, v in value.items()
        ):
            self.bad(f"{key} must be an object of string → string")
        return dict(value)

    def url(self, key: str, default: str | None = None) -> str:
        """An ``http://`` or ``https://`` URL with a host."""
        value = self.str_(key, default, required=default is None)
        try:
            parts = urlsplit(value)
        except ValueError:
            self.bad(f"{key} is not a URL")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.bad(f"{key} must be an http:// or https:// URL")
        return value
