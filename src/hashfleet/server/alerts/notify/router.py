"""Routes alert events to the configured notifiers and delivers them in the background.

``submit(event, alert)`` is the alert engine's ``notify`` callback. It runs on the ingest
path, so it only decides and enqueues: it never awaits, never blocks and never raises.
Each notifier has a bounded queue (the oldest message is dropped on overflow) and one task
that delivers in order, retrying with exponential backoff and jitter.

Routing, per notifier: an ``opened`` alert goes out when its severity is ``min_severity`` or
worse, its thing's type is in ``types`` and the thing carries one of ``tags`` (each when
given). A ``closed`` alert goes out only to notifiers its ``opened`` was routed to, whatever
its severity is by then. ``events`` limits which of the two are sent. Each (notifier,
alert id, event) is sent at most once; that memory is an LRU of ``dedup_max`` alerts per
notifier.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hashfleet.core.tasks import cancel_task
from hashfleet.model.alert import SEVERITIES, Alert, severity_rank
from hashfleet.server.alerts.notify.base import (
    CLOSED,
    ERR_NOTIFY_INTERNAL,
    ERR_NOTIFY_TIMEOUT,
    EVENTS,
    OPENED,
    DeliveryError,
    Fields,
    Message,
    Notifier,
    bad_config,
    thing_info,
)
from hashfleet.server.alerts.notify.smtp import KEYS as SMTP_KEYS
from hashfleet.server.alerts.notify.smtp import SmtpNotifier
from hashfleet.server.alerts.notify.telegram import KEYS as TELEGRAM_KEYS
from hashfleet.server.alerts.notify.telegram import TelegramNotifier
from hashfleet.server.alerts.notify.webhook import KEYS as WEBHOOK_KEYS
from hashfleet.server.alerts.notify.webhook import WebhookNotifier
from hashfleet.server.live.index import LiveIndex

log = logging.getLogger(__name__)

COMMON_KEYS = frozenset(
    {"type", "name", "min_severity", "events", "types", "tags", "retries", "timeout_s"}
)
Factory = Callable[[str, Fields, float], Notifier]
# type → (builder, its own config keys)
TYPES: dict[str, tuple[Factory, frozenset[str]]] = {
    "webhook": (WebhookNotifier.from_config, WEBHOOK_KEYS),
    "telegram": (TelegramNotifier.from_config, TELEGRAM_KEYS),
    "smtp": (SmtpNotifier.from_config, SMTP_KEYS),
}
DEFAULT_MIN_SEVERITY = "high"
DEFAULT_RETRIES = 5
DEFAULT_TIMEOUT_S = 10.0
QUEUE_MAX = 1000
DEDUP_MAX = 20_000
RETRY_AFTER_MAX_S = 300.0  # a receiver's requested wait is honoured up to this


@dataclass(frozen=True)
class Route:
    """Which alerts one notifier gets."""

    min_rank: int
    events: frozenset[str]
    types: frozenset[str] | None = None
    tags: frozenset[str] | None = None

    def wants(self, alert: Alert, thing: Mapping[str, Any]) -> bool:
        """Whether an opened ``alert`` on ``thing`` is for this notifier."""
        if severity_rank(alert.severity) > self.min_rank:
            return False
        if self.types is not None and thing.get("type") not in self.types:
            return False
        if self.tags is not None:
            tags = thing.get("tags")
            if not isinstance(tags, list) or self.tags.isdisjoint(
                t for t in tags if isinstance(t, str)
            ):
                return False
        return True


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: ``attempt`` n waits 50-100 % of ``base·2ⁿ`` ≤ cap."""

    base_s: float = 1.0
    cap_s: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds before retry number ``attempt`` + 1 (``retry_after`` when the receiver said)."""
        if retry_after is not None:
            return min(retry_after, RETRY_AFTER_MAX_S)
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(attempt, 32))
        # Jitter spreads the retries of many notifiers that failed together.
        return ceiling * random.uniform(0.5, 1.0)


@dataclass
class Channel:
    """One notifier with its route, queue, dedup memory, counters and task."""

    notifier: Notifier
    kind: str
    route: Route
    retries: int
    timeout_s: float
    queue: deque[Message]
    seen: OrderedDict[str, set[str]] = field(default_factory=OrderedDict)  # alert id → events
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    retried: int = 0
    last_error: str | None = None

    def __post_init__(self) -> None:
        self.idle.set()


def parse_entry(index: int, raw: Any, queue_max: int = QUEUE_MAX) -> tuple[Channel, str]:
    """One ``notifiers`` entry → its channel (not started) and name."""
    where = f"notifiers[{index}]"
    if not isinstance(raw, Mapping):
        bad_config(where, "must be an object")
    kind = raw.get("type")
    if kind not in TYPES:
        bad_config(where, f"type must be one of {sorted(TYPES)}")
    assert isinstance(kind, str)
    factory, own_keys = TYPES[kind]
    if unknown := sorted(set(raw) - COMMON_KEYS - own_keys):
        bad_config(where, f"unknown keys {unknown}")
    f = Fields(where, raw)
    name = f.str_("name", f"{kind}#{index}")
    f.where = f"notifier {name!r}"
    severity = raw.get("min_severity", DEFAULT_MIN_SEVERITY)
    if severity not in SEVERITIES:
        f.bad(f"min_severity must be one of {list(SEVERITIES)}")
    events = f.str_list("events", allowed=EVENTS) or list(EVENTS)
    types, tags = f.str_list("types"), f.str_list("tags")
    route = Route(
        severity_rank(severity),
        frozenset(events),
        frozenset(types) if types is not None else None,
        frozenset(tags) if tags is not None else None,
    )
    retries = f.int_("retries", DEFAULT_RETRIES, 0, 100)
    timeout_s = f.float_("timeout_s", DEFAULT_TIMEOUT_S, 0.0, 300.0)
    notifier = factory(name, f, timeout_s)
    channel = Channel(notifier, kind, route, retries, timeout_s, deque(maxlen=queue_max))
    return channel, name


class NotifyRouter:
    """The configured notifiers; ``submit`` is the alert engine's callback."""

    def __init__(
        self,
        config: Sequence[Mapping[str, Any]] | None,
        live: LiveIndex | None = None,
        *,
        queue_max: int = QUEUE_MAX,
        dedup_max: int = DEDUP_MAX,
        backoff: Backoff | None = None,
        drain_s: float = 5.0,
    ) -> None:
        if config is not None and not isinstance(config, list):
            bad_config("notifiers", "must be a list")
        self.live = live
        self.queue_max = queue_max
        self.dedup_max = dedup_max
        self.backoff = backoff or Backoff()
        self.drain_s = drain_s
        self.channels: dict[str, Channel] = {}
        for index, raw in enumerate(config or []):
            channel, name = parse_entry(index, raw, queue_max)
            if name in self.channels:
                bad_config(f"notifiers[{index}]", f"name {name!r} is used twice")
            self.channels[name] = channel

    # -- the engine's callback ------------------------------------------------------------

    def submit(self, event: str, alert: Alert) -> None:
        """Route ``alert``'s ``event`` and queue it; never blocks, never raises."""
        if not self.channels:
            return
        try:
            self._submit(event, alert)
        except Exception:
            # Whatever goes wrong here must not reach the ingest path that called us.
            log.exception("routing %s of alert %s failed", event, getattr(alert, "id", "?"))

    def _submit(self, event: str, alert: Alert) -> None:
        if event not in EVENTS:
            log.warning("unknown alert event %r ignored", event)
            return
        doc = self.live.things.get(alert.thing_id) if self.live is not None else None
        thing = thing_info(doc, alert.thing_id)
        message: Message | None = None  # built once, for the first notifier that takes it
        for name, ch in self.channels.items():
            if not self._routed(ch, event, alert, thing):
                continue
            if message is None:
                message = Message(event=event, alert=alert.to_dict(), thing=thing)
            self._enqueue(name, ch, message)

    def _routed(self, ch: Channel, event: str, alert: Alert, thing: Mapping[str, Any]) -> bool:
        """Dedup and route; records the decision. True when ``event`` is to be sent."""
        done = ch.seen.get(alert.id)
        if done is not None:
            ch.seen.move_to_end(alert.id)
        if event == OPENED:
            if done is not None or not ch.route.wants(alert, thing):
                return False
            self._remember(ch, alert.id, {OPENED})
        else:
            # Only the close of an alert whose opening was routed here, and only once.
            if done is None or CLOSED in done:
                return False
            done.add(CLOSED)
        return event in ch.route.events

    def _remember(self, ch: Channel, alert_id: str, events: set[str]) -> None:
        ch.seen[alert_id] = events
        while len(ch.seen) > self.dedup_max:
            ch.seen.popitem(last=False)

    def _enqueue(self, name: str, ch: Channel, message: Message) -> None:
        if len(ch.queue) >= self.queue_max:
            ch.dropped += 1  # deque(maxlen) drops the oldest as we append
            log.warning("notifier %s: queue full, oldest message dropped", name)
        ch.queue.append(message)
        ch.idle.clear()
        ch.wake.set()

    def prime(self, alerts: Sequence[Alert]) -> None:
        """Remember alerts open at start-up as routed, so their closing is sent.

        They were notified (as the config routed them) before the restart; without this,
        an alert open across a restart would close silently.
        """
        for alert in alerts:
            doc = self.live.things.get(alert.thing_id) if self.live is not None else None
            thing = thing_info(doc, alert.thing_id)
            for ch in self.channels.values():
                if alert.id not in ch.seen and ch.route.wants(alert, thing):
                    self._remember(ch, alert.id, {OPENED})

    # -- delivery -------------------------------------------------------------------------

    def start(self) -> None:
        """Start one delivery task per notifier."""
        for name, ch in self.channels.items():
            if ch.task is None:
                ch.task = asyncio.create_task(self._run(name, ch), name=f"notify:{name}")

    async def stop(self) -> None:
        """Let queued messages go out for at most ``drain_s``, then stop and close."""
        running = [ch for ch in self.channels.values() if ch.task is not None]
        if running:
            waits = [ch.idle.wait() for ch in running]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*waits), self.drain_s)
        for name, ch in self.channels.items():
            await cancel_task(ch.task)
            ch.task = None
            if ch.queue or not ch.idle.is_set():
                # The queue plus the one that was in flight (or waiting for its retry).
                lost = len(ch.queue) + (0 if ch.idle.is_set() else 1)
                ch.dropped += lost
                log.warning("notifier %s: %d messages not delivered at shutdown", name, lost)
                ch.queue.clear()
                ch.idle.set()
            try:
                await ch.notifier.aclose()
            except Exception:
                log.exception("notifier %s: close failed", name)

    async def _run(self, name: str, ch: Channel) -> None:
        while True:
            if not ch.queue:
                ch.idle.set()
                ch.wake.clear()
                await ch.wake.wait()
                continue
            message = ch.queue.popleft()
            await self._deliver(name, ch, message)

    async def _deliver(self, name: str, ch: Channel, message: Message) -> None:
        attempt = 0
        while True:
            err = await self._attempt(name, ch, message)
            if err is None:
                ch.sent += 1
                return
            ch.last_error = err.code
            if not err.retryable or attempt >= ch.retries:
                ch.failed += 1
                log.warning(
                    "notifier %s: gave up on %s after %d attempt(s): %s %s",
                    name,
                    message.key,
                    attempt + 1,
                    err.code,
                    err.message,
                )
                return
            delay = self.backoff.delay(attempt, err.retry_after)
            attempt += 1
            ch.retried += 1
            log.info(
                "notifier %s: %s failed (%s), retry %d in %.1f s",
                name,
                message.key,
                err.code,
                attempt,
                delay,
            )
            await asyncio.sleep(delay)

    async def _attempt(self, name: str, ch: Channel, message: Message) -> DeliveryError | None:
        """One try; the failure as data."""
        try:
            # Each notifier bounds its own I/O by timeout_s; this is the net for a notifier
            # whose several steps (an SMTP session) each take nearly that long.
            await asyncio.wait_for(ch.notifier.send(message), ch.timeout_s * 3)
        except DeliveryError as exc:
            return exc
        except TimeoutError:
            return DeliveryError(f"notifier {name}: no result in time", code=ERR_NOTIFY_TIMEOUT)
        except Exception:
            log.exception("notifier %s: send failed unexpectedly", name)
            return DeliveryError(
                f"notifier {name}: internal error", code=ERR_NOTIFY_INTERNAL, retryable=False
            )
        return None

    # -- reading --------------------------------------------------------------------------

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per notifier: type, sent, failed, dropped, retried, queued, last_error."""
        return {
            name: {
                "type": ch.kind,
                "sent": ch.sent,
                "failed": ch.failed,
                "dropped": ch.dropped,
                "retried": ch.retried,
                "queued": len(ch.queue),
                "last_error": ch.last_error,
            }
            for name, ch in self.channels.items()
        }
