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


async def cancel_all(tasks: list[asyncio.Task[Any]], grace_s: float = 2.0, tries: int = 5) -> None:
    """Cancel ``tasks`` and wait until every one has finished, cancelling again the ones
    that swallowed it.

    On Python 3.11 a cancellation can be lost: ``asyncio.wait_for`` whose inner await
    finishes at the same moment, or an aiohttp request whose own timeout fires then, turns
    it into a result or a ``TimeoutError`` that a retry loop takes as a failed attempt and
    goes on. Such a task is cancelled again (its next await ends it); after ``tries``
    rounds of ``grace_s`` the rest are left running, logged.
    """
    pending = {t for t in tasks if not t.done()}
    for _ in range(tries):
        if not pending:
            break
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=grace_s)
        if pending:
            names = ", ".join(sorted(t.get_name() for t in pending))
            log.warning("tasks still running after cancel (cancelling again): %s", names)
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.warning("task %s had ended with %r", task.get_name(), task.exception())
