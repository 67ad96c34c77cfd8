"""Pub/sub channels with throttled diffs.

A subscriber first gets the channel's full state, then at most one diff per channel per
throttle interval. Only subscribers of a channel receive its messages. A subscriber too slow
to keep up loses its queued diffs and gets a fresh full state instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from hashfleet.core.tasks import cancel_task
from hashfleet.wire.codec import json_dumps_str

log = logging.getLogger(__name__)

FullState = Callable[[str], Any]
Diff = Callable[[str, set[str]], Any]


class Subscriber:
    """One connection's outbox: encoded messages waiting to be sent."""

    def __init__(self, max_pending: int = 64) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.max_pending = max_pending
        self.channels: set[str] = set()
        self.overflowed: set[str] = set()

    def offer(self, channel: str, message: str) -> None:
        """Queue a message, or mark the channel for a resync when the outbox is full."""
        if self.queue.qsize() >= self.max_pending:
            self.overflowed.add(channel)
            return
        self.queue.put_nowait(message)


class ChannelHub:
    """Channels by name; the live index marks what changed, the hub sends diffs."""

    def __init__(self, full_state: FullState, diff: Diff, throttle_s: float = 1.0) -> None:
        self._full_state = full_state
        self._diff = diff
        self.throttle_s = throttle_s
        self._subs: dict[str, set[Subscriber]] = {}
        self._dirty: dict[str, set[str]] = {}
        self._task: asyncio.Task[None] | None = None
        # Set by the first change after a flush: a change after a quiet spell goes out at
        # once, then at most one diff per channel per ``throttle_s``.
        self._wake = asyncio.Event()
        self.messages_sent = 0

    def has_subscribers(self, channel: str) -> bool:
        """Whether anyone listens on ``channel`` (so unwatched changes cost nothing)."""
        return channel in self._subs

    def mark(self, channel: str, key: str) -> None:
        """Record that ``key`` changed in ``channel`` since the last diff."""
        if channel in self._subs:
            self._dirty.setdefault(channel, set()).add(key)
            if not self._wake.is_set():
                self._wake.set()

    def subscribe(self, sub: Subscriber, channel: str, request_id: Any = None) -> None:
        """Add ``sub`` to ``channel`` and queue the full state, with no gap before diffs.

        Registration and the full state happen in the same synchronous step, so no diff
        can be built between them.
        """
        self._subs.setdefault(channel, set()).add(sub)
        sub.channels.add(channel)
        sub.queue.put_nowait(self._snapshot_message(channel, request_id))

    def unsubscribe(self, sub: Subscriber, channel: str) -> None:
        """Remove ``sub`` from ``channel``."""
        subs = self._subs.get(channel)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[channel]
                self._dirty.pop(channel, None)
        sub.channels.discard(channel)

    def drop(self, sub: Subscriber) -> None:
        """Remove ``sub`` from every channel (its connection closed)."""
        for channel in list(sub.channels):
            self.unsubscribe(sub, channel)

    def _snapshot_message(self, channel: str, request_id: Any) -> str:
        msg: dict[str, Any] = {
            "type": "snapshot",
            "channel": channel,
            "data": self._full_state(channel),
        }
        if request_id is not None:
            msg["id"] = request_id
        return json_dumps_str(msg)

    def flush(self) -> int:
        """Send one diff per dirty channel to its subscribers; returns messages queued."""
        sent = 0
        dirty, self._dirty = self._dirty, {}
        for channel, keys in dirty.items():
            subs = self._subs.get(channel)
            if not subs or not keys:
                continue
            # Encoded once, sent to every subscriber.
            message = json_dumps_str(
                {"type": "diff", "channel": channel, "data": self._diff(channel, keys)}
            )
            for sub in subs:
                sub.offer(channel, message)
                sent += 1
        for subs in list(self._subs.values()):
            for sub in subs:
                self._resync(sub)
        self.messages_sent += sent
        return sent

    def _resync(self, sub: Subscriber) -> None:
        if not sub.overflowed or sub.queue.qsize() > 0:
            return
        for channel in sub.overflowed:
            if channel in sub.channels:
                sub.queue.put_nowait(self._snapshot_message(channel, None))
        sub.overflowed.clear()

    async def run(self) -> None:
        """Flush forever: at once after a quiet spell, then at most once per interval.

        The first change after a flush wakes the loop; if the last flush was less than
        ``throttle_s`` ago it waits out the rest. Marks made in one synchronous step (one
        ingest batch) all land in the same diff. Without changes it still flushes once per
        interval, so a subscriber whose outbox overflowed gets its resync.
        """
        loop = asyncio.get_running_loop()
        last = loop.time() - self.throttle_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.throttle_s)
            wait = self.throttle_s - (loop.time() - last)
            if wait > 0:
                await asyncio.sleep(wait)
            self._wake.clear()
            try:
                if self.flush():
                    last = loop.time()  # only a diff sent starts a new interval
            except Exception:
                log.exception("channel flush failed")

    def start(self) -> None:
        """Start the flushing task."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="channel-hub")

    async def stop(self) -> None:
        """Stop the flushing task."""
        await cancel_task(self._task)
        self._task = None
