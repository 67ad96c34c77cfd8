"""Background asyncio tasks: periodic work, and stopping a task cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)


async def run_every(
    interval_s: float,
    work: Callable[[], Awaitable[Any]],
    what: str,
    *,
    first_now: bool = False,
) -> None:
    """Await ``work()`` every ``interval_s`` seconds, for ever (until cancelled).

    A failing call is logged and the loop goes on: periodic work (flushes, pruning,
    refreshes) must outlive a database hiccup. ``first_now`` runs it once before waiting.
    """
    if not first_now:
        await asyncio.sleep(interval_s)
    while True:
        try:
            await work()
        except Exception:
            log.exception("%s failed; retrying in %.0f s", what, interval_s)
        await asyncio.sleep(interval_s)


async def cancel_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` (if any) and wait until it has finished."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
