"""The job dispatcher: approved calls go to the agents through a durable queue.

``submit`` stores one job per (action, thing) and wakes the rack's agent, which asks
``GET /api/agent/jobs`` every few seconds (a short long-poll: a longer one would hold a
server's shutdown, which waits for open requests). The agent journals each job id before
it runs it and reports the result to ``POST /api/agent/jobs/results``; the first result of
a job wins. A job offered but never answered (the answer to the agent was lost, or the
agent restarted) is offered again after ``reoffer_after_s``: the agent's journal turns a
second offer into a re-sent result, never into a second run. A job without a result after
``ttl_s`` fails with ``ERR_JOB_EXPIRED``. The jobs that end are passed to ``on_results``, in
batches as the agents report them.

Direct calls (queryThing, applyThings) use the same queue under negative ids instead of an
action's: :meth:`call` waits for their results instead of passing them on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.core.clock import now_ms
from hashfleet.core.tasks import cancel_task, run_every
from hashfleet.server.actions.model import IdClock
from hashfleet.server.store import jobs as job_store
from hashfleet.wire.messages import AgentJob, JobResult

log = logging.getLogger(__name__)

ERR_JOB_EXPIRED = "ERR_JOB_EXPIRED"
OnResults = Callable[[list[dict[str, Any]]], Awaitable[None]]


class JobDispatcher:
    """The server's side of the agents' job queue."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        reoffer_after_s: float = 60.0,
        ttl_s: float = 3600.0,
        batch: int = 100,
        check_every_s: float = 30.0,
    ) -> None:
        self.engine = engine
        self.reoffer_after_ms = int(reoffer_after_s * 1000)
        self.ttl_ms = int(ttl_s * 1000)
        self.batch = batch
        self.check_every_s = check_every_s
        self.on_results: OnResults | None = None
        self._wake: dict[str, asyncio.Event] = {}
        # Racks that may have open jobs: agents ask every few seconds, and a rack with
        # nothing to do is answered from memory, without a query.
        self._busy: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        # Direct calls: negative ids, never reused; their results wake these futures.
        self._direct_ids = IdClock()
        self._waiting: dict[tuple[int, str], asyncio.Future[dict[str, Any]]] = {}

    async def load(self) -> None:
        """Learn which racks have open jobs (left from before a restart)."""
        self._busy = await job_store.racks_with_open_jobs(self.engine)
        self._direct_ids.seen(-(await job_store.lowest_action_id(self.engine)))

    async def call(
        self, calls: Sequence[dict[str, Any]], timeout_s: float
    ) -> tuple[int, dict[str, dict[str, Any] | None]]:
        """Run ``calls`` now, without an action: ``(call id, {thing_id: ended job or None})``.

        ``None`` for a call still running after ``timeout_s``: it stays queued and runs
        (at most once) when its agent gets to it; its row keeps the outcome.
        """
        call_id = -self._direct_ids.next(now_ms())
        loop = asyncio.get_running_loop()
        futures = {c["thing_id"]: loop.create_future() for c in calls}
        for thing_id, future in futures.items():
            self._waiting[(call_id, thing_id)] = future
        try:
            await self.submit(call_id, calls)
            if futures:
                await asyncio.wait(futures.values(), timeout=timeout_s)
        finally:
            for thing_id in futures:
                self._waiting.pop((call_id, thing_id), None)
        return call_id, {t: f.result() if f.done() else None for t, f in futures.items()}

    def _event(self, rack_id: str) -> asyncio.Event:
        return self._wake.setdefault(rack_id, asyncio.Event())

    async def submit(self, action_id: int, calls: Sequence[dict[str, Any]]) -> None:
        """Queue ``{rack_id, thing_id, method, params}`` calls of one action durably."""
        jobs = [{**call, "action_id": action_id} for call in calls]
        await job_store.enqueue_jobs(self.engine, jobs, now_ms())
        for rack_id in {call["rack_id"] for call in calls}:
            self._busy.add(rack_id)
            self._event(rack_id).set()

    async def offer(self, rack_id: str, wait_s: float = 0.0) -> list[AgentJob]:
        """Jobs for ``rack_id``'s agent; with ``wait_s``, wait that long for one to come."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, wait_s)
        while True:
            event = self._event(rack_id)
            event.clear()  # before the read: a submit after it wakes the wait below
            rows = await self._due(rack_id)
            left = deadline - loop.time()
            if rows or left <= 0:
                return [
                    AgentJob(
                        id=r["id"],
                        action_id=r["action_id"],
                        thing_id=r["thing_id"],
                        method=r["method"],
                        params=list(r["params"] or []),
                    )
                    for r in rows
                ]
            # Also wake for re-offers that come due while waiting.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(left, self.reoffer_after_ms / 1000))

    async def _due(self, rack_id: str) -> list[dict[str, Any]]:
        if rack_id not in self._busy:
            return []
        rows = await job_store.offer_jobs(
            self.engine, rack_id, now_ms(), self.reoffer_after_ms, self.batch
        )
        if not rows and not await job_store.racks_with_open_jobs(self.engine, rack_id):
            self._busy.discard(rack_id)
        return rows

    async def report(self, rack_id: str, results: Sequence[JobResult]) -> list[int]:
        """Record results sent by ``rack_id``'s agent; returns the ids now durable (also
        those already finished, so the agent can forget them)."""
        ends = [
            (
                res.id,
                rack_id,
                job_store.DONE if res.ok else job_store.FAILED,
                res.result if res.ok else None,
                None if res.ok else _error_text(res),
            )
            for res in results
        ]
        await self._ended(await job_store.finish_jobs(self.engine, ends, now_ms()))
        return [res.id for res in results]

    async def expire(self, now: int | None = None) -> int:
        """Fail the jobs that got no result within the time to live."""
        now = now_ms() if now is None else now
        stale = await job_store.stale_jobs(self.engine, now - self.ttl_ms)
        ends = [(job["id"], None, job_store.FAILED, None, ERR_JOB_EXPIRED) for job in stale]
        rows = await job_store.finish_jobs(self.engine, ends, now)
        await self._ended(rows)
        return len(rows)

    async def _ended(self, rows: list[dict[str, Any]]) -> None:
        actions = []
        for row in rows:
            if row["action_id"] < 0:  # a direct call: whoever waits for it gets it
                future = self._waiting.get((row["action_id"], row["thing_id"]))
                if future is not None and not future.done():
                    future.set_result(row)
            else:
                actions.append(row)
        if not actions or self.on_results is None:
            return
        try:
            await self.on_results(actions)
        except Exception:
            # The jobs' ends are stored; the action side can be repaired from agent_jobs.
            log.exception("recording the results of %d jobs failed", len(actions))

    def start(self) -> None:
        """Start the expiry timer."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="job-expiry")

    async def stop(self) -> None:
        """Stop the expiry timer."""
        await cancel_task(self._task)
        self._task = None

    async def _run(self) -> None:
        await run_every(self.check_every_s, self.expire, "job expiry")


def _error_text(res: JobResult) -> str:
    code = res.error or "ERR_JOB_FAILED"
    return f"{code}: {res.message}" if res.message else code
