"""Polls every thing on its interval, with jitter and a concurrency cap.

One task per thing sleeps until its next due time; a semaphore bounds how many polls are
in flight. A failure is logged once and the recovery once, never every poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable

from hashfleet.core.clock import monotonic, now_ms
from hashfleet.core.errors import DeviceError, HashfleetError
from hashfleet.drivers.base import Driver, parse_options
from hashfleet.drivers.registry import create_driver
from hashfleet.wire.messages import AgentThing

log = logging.getLogger(__name__)

Sink = Callable[[str, int, dict[str, object] | None, str | None], None]


class Poller:
    """Runs one polling task per thing and hands each result to ``sink``."""

    def __init__(
        self, sink: Sink, interval: float = 5.0, concurrency: int = 64, jitter: float = 0.1
    ) -> None:
        """Poll every ``interval`` seconds (±``jitter`` of it), ``concurrency`` at a time."""
        self.sink = sink
        self.interval = interval
        self.jitter = jitter
        self._sem = asyncio.Semaphore(concurrency)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._opts: dict[str, dict[str, object]] = {}
        self.polls = 0
        self.failures = 0

    def set_things(self, things: list[AgentThing]) -> None:
        """Start polling new things, stop polling removed ones, restart changed ones."""
        wanted = {t.id: t for t in things}
        for thing_id in list(self._tasks):
            if thing_id not in wanted or wanted[thing_id].opts != self._opts.get(thing_id):
                self._tasks.pop(thing_id).cancel()
                self._opts.pop(thing_id, None)
        for thing_id, thing in wanted.items():
            if thing_id not in self._tasks:
                self._opts[thing_id] = thing.opts
                self._tasks[thing_id] = asyncio.create_task(
                    self._run(thing), name=f"poll-{thing_id}"
                )

    @property
    def things(self) -> int:
        """How many things are being polled."""
        return len(self._tasks)

    async def stop(self) -> None:
        """Stop every polling task."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, thing: AgentThing) -> None:
        try:
            opts = parse_options(thing.opts)
            driver = create_driver(opts)
        except HashfleetError as exc:
            log.error("thing %s has unusable opts (%s); not polling it", thing.id, exc.message)
            return
        interval = opts.interval or self.interval
        # Spread the first polls over one interval so a restart does not burst.
        next_due = monotonic() + random.uniform(0, interval)
        failing: str | None = None
        try:
            while True:
                await asyncio.sleep(max(0.0, next_due - monotonic()))
                next_due += interval * (1 + random.uniform(-self.jitter, self.jitter))
                async with self._sem:
                    failing = await self._poll_once(thing.id, driver, failing)
                if next_due < monotonic():
                    # Fell behind (overload): skip missed slots rather than burst.
                    next_due = monotonic() + interval
        finally:
            await driver.close()

    async def _poll_once(self, thing_id: str, driver: Driver, failing: str | None) -> str | None:
        ts = now_ms()
        self.polls += 1
        try:
            snap = await driver.collect()
        except DeviceError as exc:
            return self._failed(thing_id, ts, exc.code, exc.message, failing)
        except Exception as exc:  # noqa: BLE001 - a driver bug marks this thing, not the agent
            return self._failed(thing_id, ts, "ERR_DRIVER", repr(exc), failing)
        if failing is not None:
            log.info("thing %s recovered", thing_id)
        self.sink(thing_id, ts, snap.to_wire(), None)
        return None

    def _failed(self, thing_id: str, ts: int, code: str, message: str, failing: str | None) -> str:
        self.failures += 1
        if failing != code:
            log.warning("thing %s: %s (%s)", thing_id, code, message)
        self.sink(thing_id, ts, None, code)
        return code
